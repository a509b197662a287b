// Differentiable mse_loss and cross_entropy. See ops_loss.h.
#include "autograd/ops_loss.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "autograd/ops_shape.h"
#include "autograd/ops_softmax.h"
#include "tensor/softmax.h"
#include "tensor/tensor.h"

namespace tinydiff {

namespace {

// Backward: dz = (softmax(z) - onehot(t)) * scale with scale = dL / N, softmax(z) = exp(log_softmax(z)).
// logp, dz: (N, C); t: (N).
template <typename T>
void cross_entropy_backward(const T* logp, const int64_t* t, T* dz, int64_t n, int64_t c, double scale) {
  parallel_for(n, 4 * c, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      for (int64_t j = 0; j < c; ++j)
        dz[row * c + j] =
            static_cast<T>((std::exp(static_cast<double>(logp[row * c + j])) - (j == t[row] ? 1.0 : 0.0)) * scale);
    }
  });
}

}  // namespace

Variable mse_loss(const Variable& pred, const Variable& target) {
  const Tensor& pv = pred.value();    // pred: any shape
  const Tensor& tv = target.value();  // target: same shape
  TD_CHECK(pv.shape() == tv.shape() && pv.dtype() == tv.dtype(), "mse_loss",
           fmt::format("pred {} {} and target {} {} must have the same shape and dtype", shape_str(pv.shape()),
                       dtype_name(pv.dtype()), shape_str(tv.shape()), dtype_name(tv.dtype())));
  check_floating(pv, "mse_loss");
  Tensor diff = sub(pv, tv);         // diff: shape of pred
  Tensor loss = mean(square(diff));  // loss: () scalar
  const double n = static_cast<double>(pv.numel());
  const bool need_t = target.requires_grad();
  // dpred = 2 (pred - target) / N * dL;  dtarget = -dpred
  return make_result("mse_loss", loss, {pred, target}, [diff, n, need_t](const Tensor& g) -> std::vector<Tensor> {
    Tensor dpred = mul(diff, 2.0 * g.item() / n);
    Tensor dtarget = need_t ? neg(dpred) : Tensor();
    return {dpred, dtarget};
  });
}

Variable cross_entropy(const Variable& logits, const Tensor& target) {
  const char* op = "cross_entropy";
  const Tensor z = logits.value().contiguous();  // z: (N, C)
  check_floating(z, op);
  check_defined(target, op);
  TD_CHECK(z.dim() == 2, op, fmt::format("expected logits of shape (N, C), got {}", shape_str(z.shape())));
  const int64_t n = z.size(0), c = z.size(1);
  TD_CHECK(target.dtype() == DType::I64 && target.shape() == Shape{n}, op,
           fmt::format("expected an int64 target of shape {} for logits {}, got {} {}", shape_str({n}),
                       shape_str(z.shape()), shape_str(target.shape()), dtype_name(target.dtype())));
  const Tensor t = target.contiguous();  // t: (N) class indices
  const int64_t* tp = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    TD_CHECK(tp[i] >= 0 && tp[i] < c, op,
             fmt::format("target[{}] = {} is out of range for {} classes (logits {}); expected 0 <= target < {}", i,
                         tp[i], c, shape_str(z.shape()), c));

  // The one row-softmax kernel (tensor/softmax.h): logp = (z - m) - ln sum exp(z - m).
  const Tensor logp = log_softmax(z, 1);  // logp: (N, C)
  // loss = -(1/N) sum_n logp[n, t_n], summed in double in row order (deterministic).
  double total = 0;
  dispatch_floating(logp.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* lp = logp.data<T>();
    for (int64_t i = 0; i < n; ++i) total -= static_cast<double>(lp[i * c + tp[i]]);
  });
  const double value = n > 0 ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  Tensor loss = Tensor::scalar(value, z.dtype());  // loss: ()

  // dz = (softmax(z) - onehot(t)) * dL / N
  return make_result(op, loss, {logits}, [logp, t, n, c, op](const Tensor& g) -> std::vector<Tensor> {
    Tensor dz = Tensor::empty({n, c}, logp.dtype());
    const double scale = g.item() / static_cast<double>(n);
    dispatch_floating(logp.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      cross_entropy_backward<T>(logp.data<T>(), t.data<int64_t>(), dz.data<T>(), n, c, scale);
    });
    return {dz};
  });
}

Variable cross_entropy_naive(const Variable& logits, const Tensor& target) {
  // logits: (N, C), target: (N) -> log p[n, t_n]: (N, 1) -> minus the mean
  const Variable picked = gather(log_softmax_naive(logits, 1), 1, target.reshape({target.numel(), 1}));
  return neg(mean(picked));
}

}  // namespace tinydiff
