// Differentiable softmax / log-softmax: the wiring around the tensor kernels (tensor/softmax.h).
// See ops_softmax.h.
#include "autograd/ops_softmax.h"

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "tensor/tensor.h"

namespace tinydiff {

Variable softmax(const Variable& x, int64_t axis) {
  Tensor y = softmax(x.value(), axis);  // x: any shape; y: same shape, rows along `axis` sum to 1
  // Saves only the output y.
  // dx = y * (dy - sum_j dy_j y_j)   (along `axis`)
  return make_result("softmax", y, {x}, [y, axis](const Tensor& g) -> std::vector<Tensor> {
    return {softmax_backward(y, g, axis)};  // (shape of x)
  });
}

Variable log_softmax(const Variable& x, int64_t axis) {
  Tensor y = log_softmax(x.value(), axis);  // x: any shape; y: same shape
  // Saves only the output y: exp(y) = softmax(x).
  // dx = dy - exp(y) * sum_j dy_j   (along `axis`)
  return make_result("log_softmax", y, {x}, [y, axis](const Tensor& g) -> std::vector<Tensor> {
    return {log_softmax_backward(y, g, axis)};  // (shape of x)
  });
}

Variable softmax_naive(const Variable& x, int64_t axis) {
  const Variable m(max(x.value(), {axis}, true));  // constant shift: (..., 1, ...)
  const Variable e = exp(sub(x, m));
  return div(e, sum(e, {axis}, true));
}

Variable log_softmax_naive(const Variable& x, int64_t axis) { return sub(x, logsumexp(x, {axis}, true)); }

}  // namespace tinydiff
