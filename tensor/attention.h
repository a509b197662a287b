/// \file
/// \brief Scaled dot-product attention with a key padding mask: the forward and backward kernels.
///
/// Vaswani et al. 2017, "Attention Is All You Need". For each batch b and head h:
/// \f[ S = s\, Q K^\top, \qquad P = \mathrm{softmax}_{\text{rows}}(S + M), \qquad O = P V, \f]
/// with scale \f$s = 1/\sqrt{D}\f$ by default and \f$M_{b,j} = -\infty\f$ for masked keys
/// (key_mask[b, j] == 0), 0 otherwise. Masking is done by skipping masked keys (their
/// probability is exactly 0), never by adding a large negative number, so no inf - inf arises.
/// **A query row whose keys are all masked** gets an all-zero probability row: its output is
/// 0 and it sends no gradient to q, k or v (PyTorch's math path would give NaN there).
///
/// The forward returns P beside O (the backward needs it). With upstream gradient \f$\bar O\f$:
/// \f[ \bar V = P^\top \bar O, \quad \bar P = \bar O V^\top, \quad
///     \bar S = P \odot \left(\bar P - \textstyle\sum_j \bar P_{ij} P_{ij}\right), \quad
///     \bar Q = s\, \bar S K, \quad \bar K = s\, \bar S^\top Q. \f]
/// The four products run as batched GEMMs (tensor/linalg.h); the scale + mask + softmax
/// (forward) and the softmax backward times the scale (backward) are the row kernels of
/// tensor/softmax.h (`masked_softmax_`, `masked_softmax_backward_`), parallel over the
/// B H Lq rows. `attention_forward_naive` and `attention_backward_naive` compute the same with
/// the triple-loop matmul and loops for the softmax: the test oracles.
///
/// Usage:
/// \code
///   // q: (B, H, Lq, D), k: (B, H, Lk, D), v: (B, H, Lk, Dv), pad: (B, Lk) with 1 = keep, 0 = mask
///   AttentionForward f = attention_forward(q, k, v, pad);          // f.out: (B, H, Lq, Dv)
///   AttentionGrads d = attention_backward(grad_out, f.probs, q, k, v, f.scale, true, true, true);
/// \endcode
#pragma once

#include <optional>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// What attention_forward returns.
struct AttentionForward {
  Tensor out;    ///< O = P V: (B, H, Lq, Dv)
  Tensor probs;  ///< P: (B, H, Lq, Lk), contiguous; rows of masked-out queries are 0
  double scale;  ///< s, the scale used (the default resolved to \f$1/\sqrt{D}\f$)
};

/// The gradients of attention with respect to q, k and v (undefined when not asked for).
struct AttentionGrads {
  Tensor q;  ///< (B, H, Lq, D)
  Tensor k;  ///< (B, H, Lk, D)
  Tensor v;  ///< (B, H, Lk, Dv)
};

/// \f$O = \mathrm{softmax}(s\,QK^\top + M)\,V\f$ per batch and head. q: (B, H, Lq, D);
/// k: (B, H, Lk, D); v: (B, H, Lk, Dv); key_mask: (B, Lk) float (1 = keep, 0 = mask) or an
/// undefined Tensor; scale defaults to \f$1/\sqrt{D}\f$. Checks the shapes and dtypes (errors
/// name the op "scaled_dot_product_attention").
AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask = Tensor(),
                                   std::optional<double> scale = std::nullopt);

/// The gradients asked for, given the upstream gradient grad_out (B, H, Lq, Dv), the forward's
/// probs and scale. `q` is read only when need_k, `k` only when need_q, `v` only when need_q or
/// need_k (each may otherwise be undefined).
AttentionGrads attention_backward(const Tensor& grad_out, const Tensor& probs, const Tensor& q, const Tensor& k,
                                  const Tensor& v, double scale, bool need_q, bool need_k, bool need_v);

/// Reference attention_forward: matmul_naive and masked_softmax_naive; same contract.
AttentionForward attention_forward_naive(const Tensor& q, const Tensor& k, const Tensor& v,
                                         const Tensor& key_mask = Tensor(), std::optional<double> scale = std::nullopt);

/// Reference attention_backward: the formulas above with matmul_naive and
/// masked_softmax_backward_naive; every gradient, with q, k and v all given.
AttentionGrads attention_backward_naive(const Tensor& grad_out, const Tensor& probs, const Tensor& q, const Tensor& k,
                                        const Tensor& v, double scale);

}  // namespace tinydiff
