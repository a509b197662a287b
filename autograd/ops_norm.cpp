// Differentiable layer_norm, group_norm and group_norm_silu: the wiring around the tensor kernels
// (tensor/norm.h). See ops_norm.h.
#include "autograd/ops_norm.h"

#include <vector>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "autograd/ops_shape.h"
#include "tensor/tensor.h"

namespace tinydiff {

namespace {

Tensor value_or_undefined(const Variable& v) { return v.defined() ? v.value() : Tensor(); }

bool needs_grad(const Variable& v) { return v.defined() && v.requires_grad(); }

}  // namespace

// The three ops save x, mean and rstd (to rebuild xhat = (x - mean) * rstd), the weight when the
// input gradient needs it (dxhat = dz * w) and, with the SiLU, the weight and bias (to rebuild z).
// The output is not saved. The backward kernels are tensor/norm.h's.

Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  const Tensor xv = x.value().contiguous();  // x: (..., C); weight, bias: (C) or undefined
  const NormForward f = layer_norm_forward(xv, value_or_undefined(weight), value_or_undefined(bias), eps);
  const bool need_x = x.requires_grad(), need_w = needs_grad(weight), need_b = needs_grad(bias);
  const Tensor w_saved = need_x ? value_or_undefined(weight) : Tensor();  // (C)
  // Per row of n = C values, dxhat = dy * w:
  //   dx = rstd (dxhat - mean_j(dxhat) - xhat mean_j(dxhat xhat));  dw_c = sum_rows dy xhat;  db_c = sum_rows dy
  return make_result("layer_norm", f.y, {x, weight, bias},
                     [xv, w_saved, mean = f.mean, rstd = f.rstd, need_x, need_w, need_b](const Tensor& g) {
                       const NormGrads d = layer_norm_backward(g, xv, w_saved, mean, rstd, need_x, need_w, need_b);
                       return std::vector<Tensor>{d.input, d.weight, d.bias};  // (..., C), (C), (C)
                     });
}

Variable group_norm(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  const Tensor xv = x.value().contiguous();  // x: (B, C, *); weight, bias: (C) or undefined
  const NormForward f = group_norm_forward(xv, groups, value_or_undefined(weight), value_or_undefined(bias), eps);
  const bool need_x = x.requires_grad(), need_w = needs_grad(weight), need_b = needs_grad(bias);
  const Tensor w_saved = need_x ? value_or_undefined(weight) : Tensor();  // (C)
  // Per (sample, group) of n = C/G * spatial values, dxhat = dy * w_c:
  //   dx = rstd (dxhat - mean_j(dxhat) - xhat mean_j(dxhat xhat))
  //   dw_c = sum over samples and positions of channel c of dy xhat;  db_c = the same sum of dy
  return make_result("group_norm", f.y, {x, weight, bias},
                     [xv, groups, w_saved, mean = f.mean, rstd = f.rstd, need_x, need_w, need_b](const Tensor& g) {
                       const NormGrads d = group_norm_backward(g, xv, groups, w_saved, Tensor(), mean, rstd,
                                                               NormActivation::None, need_x, need_w, need_b);
                       return std::vector<Tensor>{d.input, d.weight, d.bias};  // (B, C, *), (C), (C)
                     });
}

Variable group_norm_silu(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  const Tensor xv = x.value().contiguous();  // x: (B, C, *); weight, bias: (C) or undefined
  const Tensor wv = value_or_undefined(weight), bv = value_or_undefined(bias);              // (C) each
  const NormForward f = group_norm_forward(xv, groups, wv, bv, eps, NormActivation::SiLU);  // u = silu(z)
  const bool need_x = x.requires_grad(), need_w = needs_grad(weight), need_b = needs_grad(bias);
  // With z = xhat w_c + b_c recomputed (never stored), s = sigmoid(z), dz = du s (1 + z (1 - s)),
  // then as group_norm with dy = dz:
  //   dx = rstd (dxhat - mean_j(dxhat) - xhat mean_j(dxhat xhat)), dxhat = dz w_c;  dw_c = sum dz xhat;  db_c = sum dz
  return make_result("group_norm_silu", f.y, {x, weight, bias},
                     [xv, groups, wv, bv, mean = f.mean, rstd = f.rstd, need_x, need_w, need_b](const Tensor& g) {
                       const NormGrads d = group_norm_backward(g, xv, groups, wv, bv, mean, rstd, NormActivation::SiLU,
                                                               need_x, need_w, need_b);
                       return std::vector<Tensor>{d.input, d.weight, d.bias};  // (B, C, *), (C), (C)
                     });
}

Variable layer_norm_naive(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  // x: (..., C); biased variance, eps inside the root
  Variable y = mul(sub(x, mean(x, {-1}, true)), rsqrt(add(var(x, {-1}, true, 0), eps)));
  if (weight.defined()) y = mul(y, weight);  // (C) broadcasts over the leading axes
  if (bias.defined()) y = add(y, bias);
  return y;
}

Variable group_norm_naive(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  const Shape s = x.shape();                     // x: (B, C, *)
  Variable xg = reshape(x, {s[0], groups, -1});  // (B, G, C/G * spatial)
  Variable y = mul(sub(xg, mean(xg, {2}, true)), rsqrt(add(var(xg, {2}, true, 0), eps)));
  y = reshape(y, s);  // (B, C, *)
  Shape ps(s.size(), 1);
  ps[1] = s[1];  // (1, C, 1, ...)
  if (weight.defined()) y = mul(y, reshape(weight, ps));
  if (bias.defined()) y = add(y, reshape(bias, ps));
  return y;
}

Variable group_norm_silu_naive(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias,
                               double eps) {
  return silu(group_norm_naive(x, groups, weight, bias, eps));
}

}  // namespace tinydiff
