/// \file
/// \brief Differentiable scaled dot-product attention with a key padding mask, on the tensor library's kernels.
///
/// Vaswani et al. 2017, "Attention Is All You Need". For each batch b and head h:
/// \f[ S = s\, Q K^\top, \qquad P = \mathrm{softmax}_{\text{rows}}(S + M), \qquad O = P V, \f]
/// with scale \f$s = 1/\sqrt{D}\f$ by default and \f$M_{b,j} = -\infty\f$ for masked keys
/// (key_mask[b, j] == 0), 0 otherwise. Masking is done by skipping masked keys (their
/// probability is exactly 0), never by adding a large negative number, so no inf - inf arises.
/// **A query row whose keys are all masked** gets an all-zero probability row: its output is
/// 0 and it sends no gradient to q, k or v (PyTorch's math path would give NaN there).
///
/// The forward saves P. With upstream gradient \f$\bar O\f$ the backward is
/// \f[ \bar V = P^\top \bar O, \quad \bar P = \bar O V^\top, \quad
///     \bar S = P \odot \left(\bar P - \textstyle\sum_j \bar P_{ij} P_{ij}\right), \quad
///     \bar Q = s\, \bar S K, \quad \bar K = s\, \bar S^\top Q. \f]
/// Both directions are the tensor library's kernels (tensor/attention.h: batched GEMMs around
/// the fused mask + scale + softmax row kernels). The tests compare the op against the
/// composition `matmul -> scale -> add mask -> softmax -> matmul` of the elementary
/// differentiable ops; it is `scaled_dot_product_attention_naive`, the test oracle.
///
/// Usage:
/// \code
///   // q: (B, H, Lq, D), k: (B, H, Lk, D), v: (B, H, Lk, Dv), pad: (B, Lk) with 1 = keep, 0 = mask
///   Variable o = scaled_dot_product_attention(q, k, v, pad);   // (B, H, Lq, Dv)
///   Variable o2 = scaled_dot_product_attention(q, k, v);       // no mask, scale 1/sqrt(D)
/// \endcode
#pragma once

#include <optional>

#include "autograd/variable.h"

namespace tinydiff {

/// Attention \f$\mathrm{softmax}(s\,QK^\top + M)\,V\f$ per batch and head.
/// q: (B, H, Lq, D); k: (B, H, Lk, D); v: (B, H, Lk, Dv); key_mask: (B, Lk) float (1 = keep,
/// 0 = mask) or an undefined Tensor; scale defaults to \f$1/\sqrt{D}\f$. Returns (B, H, Lq, Dv).
/// Rows with every key masked yield 0 (see the file overview).
Variable scaled_dot_product_attention(const Variable& q, const Variable& k, const Variable& v,
                                      const Tensor& key_mask = Tensor(), std::optional<double> scale = std::nullopt);

/// Reference from elementary ops: `softmax_naive(s * q k^T + A) v` with the additive mask
/// A = -1e9 on masked keys (exp underflows to exactly 0), times 0 for batches whose keys are all
/// masked, so it agrees with the fused op everywhere. Same arguments; slow; the test oracle.
Variable scaled_dot_product_attention_naive(const Variable& q, const Variable& k, const Variable& v,
                                            const Tensor& key_mask = Tensor(),
                                            std::optional<double> scale = std::nullopt);

}  // namespace tinydiff
