// Scaled dot-product attention: batched GEMMs around the masked softmax row kernels of
// tensor/softmax.h, and the naive references. See attention.h.
#include "tensor/attention.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/linalg.h"
#include "tensor/softmax.h"

namespace tinydiff {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// Checks q: (B, H, Lq, D), k: (B, H, Lk, D), v: (B, H, Lk, Dv) and key_mask: (B, Lk) or
// undefined; returns the mask in q's dtype, contiguous (undefined without one), and the scale.
Tensor check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                       std::optional<double> scale, double& s) {
  const auto shapes = [&] {
    return fmt::format("q {}, k {}, v {}", shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  };
  TD_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, kOp,
           fmt::format("expected q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv); got {}", shapes()));
  TD_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(1) == q.size(1) && v.size(1) == q.size(1), kOp,
           fmt::format("batch and head axes must agree: {}", shapes()));
  TD_CHECK(k.size(3) == q.size(3), kOp, fmt::format("q and k must have the same feature size D: {}", shapes()));
  TD_CHECK(v.size(2) == k.size(2), kOp, fmt::format("k and v must have the same length Lk: {}", shapes()));
  TD_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(), kOp,
           fmt::format("dtypes differ: q {}, k {}, v {}", dtype_name(q.dtype()), dtype_name(k.dtype()),
                       dtype_name(v.dtype())));
  check_floating(q, kOp);
  const int64_t b = q.size(0), lk = k.size(2);
  Tensor mask;
  if (key_mask.defined()) {
    check_floating(key_mask, kOp);
    TD_CHECK(key_mask.shape() == (Shape{b, lk}), kOp,
             fmt::format("key_mask must have shape (B, Lk) = ({}, {}), got {}", b, lk, shape_str(key_mask.shape())));
    mask = key_mask.to(q.dtype()).contiguous();  // mask: (B, Lk)
  }
  s = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  return mask;
}

}  // namespace

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                                   std::optional<double> scale) {
  AttentionForward f;
  const Tensor mask = check_attention(q, k, v, key_mask, scale, f.scale);  // mask: (B, Lk) or undefined
  f.probs = matmul(q, k.transpose(-2, -1)).contiguous();                   // probs: (B, H, Lq, Lk), raw scores q k^T
  masked_softmax_(f.probs, mask, f.scale);                                 // probs: P = softmax(s q k^T + M)
  f.out = matmul(f.probs, v);                                              // out: (B, H, Lq, Dv)
  return f;
}

AttentionGrads attention_backward(const Tensor& grad_out, const Tensor& probs, const Tensor& q, const Tensor& k,
                                  const Tensor& v, double scale, bool need_q, bool need_k, bool need_v) {
  AttentionGrads d;
  if (need_v) d.v = matmul(probs.transpose(-2, -1), grad_out);  // dV = P^T dO: (B, H, Lk, Dv)
  if (!need_q && !need_k) return d;
  Tensor ds = matmul(grad_out, v.transpose(-2, -1)).contiguous();  // dP = dO V^T: (B, H, Lq, Lk)
  masked_softmax_backward_(probs, ds, scale);                      // ds: dS = s P (dP - rowsum(dP P))
  if (need_q) d.q = matmul(ds, k);                                 // dQ = dS K: (B, H, Lq, D)
  if (need_k) d.k = matmul(ds.transpose(-2, -1), q);               // dK = dS^T Q: (B, H, Lk, D)
  return d;
}

AttentionForward attention_forward_naive(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                                         std::optional<double> scale) {
  AttentionForward f;
  const Tensor mask = check_attention(q, k, v, key_mask, scale, f.scale);
  const Tensor scores = matmul_naive(q, k.transpose(-2, -1));  // (B, H, Lq, Lk)
  f.probs = masked_softmax_naive(scores, mask, f.scale);       // (B, H, Lq, Lk)
  f.out = matmul_naive(f.probs, v);                            // (B, H, Lq, Dv)
  return f;
}

AttentionGrads attention_backward_naive(const Tensor& grad_out, const Tensor& probs, const Tensor& q, const Tensor& k,
                                        const Tensor& v, double scale) {
  AttentionGrads d;
  d.v = matmul_naive(probs.transpose(-2, -1), grad_out);  // (B, H, Lk, Dv)
  const Tensor ds = masked_softmax_backward_naive(probs, matmul_naive(grad_out, v.transpose(-2, -1)), scale);
  d.q = matmul_naive(ds, k);                    // (B, H, Lq, D)
  d.k = matmul_naive(ds.transpose(-2, -1), q);  // (B, H, Lk, D)
  return d;
}

}  // namespace tinydiff
