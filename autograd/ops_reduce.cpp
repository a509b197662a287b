// Differentiable reductions, forward and backward side by side. See ops_reduce.h.
//
// Notation: x is the input, y the reduced output, g = dL/dy (y's shape), and g_k the adjoint
// reshaped to the keepdim shape (reduced axes as extent 1) so that it broadcasts against x.
#include "autograd/ops_reduce.h"

#include <fmt/format.h>

#include "tensor/tensor.h"

namespace tinydiff {

namespace {

/// x's shape with every reduced axis set to 1 (all axes when `axes` is empty), and N, the
/// number of elements reduced into each output.
struct Reduced {
  Shape keep;
  int64_t count = 1;
};

Reduced reduced_shape(const Tensor& x, const std::vector<int64_t>& axes, const char* op) {
  Reduced r{x.shape(), 1};
  if (axes.empty()) {
    for (auto& e : r.keep) {
      r.count *= e;
      e = 1;
    }
    return r;
  }
  for (int64_t axis : axes) {
    const int64_t a = x.normalize_axis(axis, op);
    TD_CHECK(r.keep[a] != 1 || x.shape()[a] == 1, op,
             fmt::format("axis {} listed twice in the axes of shape {}", axis, shape_str(x.shape())));
    r.count *= r.keep[a];
    r.keep[a] = 1;
  }
  return r;
}

}  // namespace

Variable sum(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = sum(x.value(), axes, keepdim);
  const Reduced r = reduced_shape(x.value(), axes, "sum");
  // dy/dx_i = 1: x_bar = g broadcast back over the reduced axes
  return make_result("sum", std::move(y), {x}, [keep = r.keep, shape = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(keep).expand(shape).contiguous()};
  });
}

Variable mean(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = mean(x.value(), axes, keepdim);
  const Reduced r = reduced_shape(x.value(), axes, "mean");
  // dy/dx_i = 1/N: x_bar = g_k / N broadcast back over the reduced axes
  return make_result("mean", std::move(y), {x}, [r, shape = x.shape()](const Tensor& g) {
    const double inv_n = 1.0 / static_cast<double>(r.count);
    return std::vector<Tensor>{mul(g.reshape(r.keep), inv_n).expand(shape).contiguous()};
  });
}

Variable var(const Variable& x, const std::vector<int64_t>& axes, bool keepdim, int64_t correction) {
  Tensor y = var(x.value(), axes, keepdim, correction);
  const Reduced r = reduced_shape(x.value(), axes, "var");
  // y = sum_j (x_j - m)^2 / (N - c) with m = mean(x); the terms through m sum to zero, so
  // dy/dx_i = 2 (x_i - m) / (N - c):  x_bar = g_k * 2 (x - m) / (N - c)
  return make_result("var", std::move(y), {x}, [r, axes, correction, xv = x.value()](const Tensor& g) {
    const Tensor centred = sub(xv, mean(xv, axes, true));  // (x's shape)
    const double scale = 2.0 / static_cast<double>(r.count - correction);
    return std::vector<Tensor>{mul(centred, mul(g.reshape(r.keep), scale))};
  });
}

Variable max(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = max(x.value(), axes, keepdim);
  const Reduced r = reduced_shape(x.value(), axes, "max");
  // dy/dx_i = [x_i = y] / (number of j with x_j = y): ties share the adjoint equally (amax rule)
  return make_result("max", y, {x}, [keep = r.keep, axes, y, xv = x.value()](const Tensor& g) {
    const Tensor hit = eq(xv, y.reshape(keep));  // (x's shape) 1 where x_i is a maximum
    const Tensor ties = sum(hit, axes, true);    // (keep) how many share it, >= 1
    return std::vector<Tensor>{mul(hit, div(g.reshape(keep), ties))};
  });
}

Variable logsumexp(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = logsumexp(x.value(), axes, keepdim);
  const Reduced r = reduced_shape(x.value(), axes, "logsumexp");
  // y = ln sum_j e^(x_j):  dy/dx_i = e^(x_i) / sum_j e^(x_j) = e^(x_i - y)
  return make_result("logsumexp", y, {x}, [keep = r.keep, y, xv = x.value()](const Tensor& g) {
    return std::vector<Tensor>{mul(exp(sub(xv, y.reshape(keep))), g.reshape(keep))};
  });
}

}  // namespace tinydiff
