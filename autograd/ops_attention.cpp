// Differentiable scaled dot-product attention: the wiring around the tensor kernels
// (tensor/attention.h). See ops_attention.h.
#include "autograd/ops_attention.h"

#include <cmath>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_linalg.h"
#include "autograd/ops_shape.h"
#include "autograd/ops_softmax.h"
#include "tensor/tensor.h"

namespace tinydiff {

Variable scaled_dot_product_attention(const Variable& q, const Variable& k, const Variable& v, const Tensor& key_mask,
                                      std::optional<double> scale) {
  // q: (B, H, Lq, D), k: (B, H, Lk, D), v: (B, H, Lk, Dv), key_mask: (B, Lk) or undefined.
  // The tensor kernel checks the shapes and dtypes and resolves the default scale 1/sqrt(D).
  AttentionForward f = attention_forward(q.value(), k.value(), v.value(), key_mask, scale);  // f.out: (B, H, Lq, Dv)

  const bool need_q = q.requires_grad(), need_k = k.requires_grad(), need_v = v.requires_grad();
  // Saved: P (f.probs: (B, H, Lq, Lk)) and only the inputs the gradients asked for read.
  const Tensor q_saved = need_k ? q.value() : Tensor();              // dK = s dS^T Q
  const Tensor k_saved = need_q ? k.value() : Tensor();              // dQ = s dS K
  const Tensor v_saved = (need_q || need_k) ? v.value() : Tensor();  // dP = dO V^T
  // dV = P^T dO;  dP = dO V^T;  dS = s P (dP - rowsum(dP P));  dQ = dS K;  dK = dS^T Q
  return make_result("scaled_dot_product_attention", f.out, {q, k, v},
                     [p = f.probs, s = f.scale, q_saved, k_saved, v_saved, need_q, need_k,
                      need_v](const Tensor& g) -> std::vector<Tensor> {
                       AttentionGrads d =
                           attention_backward(g, p, q_saved, k_saved, v_saved, s, need_q, need_k, need_v);
                       return {d.q, d.k, d.v};  // (B, H, Lq, D), (B, H, Lk, D), (B, H, Lk, Dv)
                     });
}

Variable scaled_dot_product_attention_naive(const Variable& q, const Variable& k, const Variable& v,
                                            const Tensor& key_mask, std::optional<double> scale) {
  const double s = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  Variable scores = mul(matmul(q, transpose(k, -2, -1)), s);  // (B, H, Lq, Lk)
  if (!key_mask.defined()) return matmul(softmax_naive(scores, -1), v);
  const int64_t b = key_mask.size(0), lk = key_mask.size(1);
  const Tensor keep = key_mask.to(q.dtype());                                   // (B, Lk), 1 keep / 0 mask
  const Tensor additive = mul(sub(keep, 1.0), 1e9).reshape({b, 1, 1, lk});      // 0 keep, -1e9 mask
  const Tensor any_kept = gt(max(keep, {1}, true), 0.0).reshape({b, 1, 1, 1});  // 0 where all masked
  Variable p = softmax_naive(add(scores, Variable(additive)), -1);              // (B, H, Lq, Lk)
  return matmul(mul(p, Variable(any_kept)), v);                                 // (B, H, Lq, Dv)
}

}  // namespace tinydiff
