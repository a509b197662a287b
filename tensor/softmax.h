/// \file
/// \brief Softmax and log-softmax along an axis, their backward kernels, and the masked, scaled
/// softmax of attention: one row kernel for all of them.
///
/// Forward, stably, with \f$m = \max_j x_j\f$ over the row:
/// \f[ \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad
///     \log\mathrm{softmax}(x)_i = (x_i - m) - \ln \textstyle\sum_j e^{x_j - m}. \f]
/// The log-softmax subtracts \f$\ln \sum_j e^{x_j - m}\f$ from the exact difference \f$x_i - m\f$,
/// never \f$m + \ln \sum_j e^{x_j - m}\f$ from \f$x_i\f$: with logits around 1000 the latter rounds
/// the shift at magnitude 1000 (a float32 ulp is 6e-5 there) before the subtraction.
///
/// Backward, from the Jacobian \f$\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)\f$ of
/// \f$y = \mathrm{softmax}(x)\f$, given the output y and the upstream gradient \f$\bar y\f$:
/// \f[ \bar x = y \odot \left(\bar y - \textstyle\sum_j \bar y_j y_j\right) \quad\text{(softmax)}, \qquad
///     \bar x = \bar y - e^{y} \textstyle\sum_j \bar y_j \quad\text{(log-softmax, } e^y = \mathrm{softmax}(x)\text{)}.
///     \f]
/// Neither needs the input x.
///
/// Attention (tensor/attention.h) uses the same row kernel on its scores, in place, with a scale s
/// and a key mask: \f$P = \mathrm{softmax}(s\,S)\f$ over the kept keys of each row, masked keys
/// getting probability exactly 0 (they are skipped, no large negative number is added), and a row
/// whose keys are all masked becoming all zeros. Its backward is
/// \f$\bar S = s\, P \odot (\bar P - \sum_j \bar P_j P_j)\f$.
///
/// Every row is computed by one thread: the maximum and the sum of exponentials with
/// `lane_max` / `lane_sum` (tensor/vec_math.h; the sum in double), \f$e^x\f$ with `vexp`, then
/// one multiplication by \f$1/\sum\f$ in T. Results depend on the shape only, never on the
/// thread count. The `_naive` functions compose the same maths from elementwise ops and
/// reductions (or plain loops, for the masked kernels): the documentation and the test oracle.
///
/// Usage:
/// \code
///   Tensor p = softmax(scores, -1);                    // scores: (B, H, Lq, Lk)
///   Tensor logp = log_softmax(logits, 1);              // logits: (N, C)
///   Tensor dx = softmax_backward(p, grad_p, -1);       // grad_p: shape of p
///   masked_softmax_(s, key_mask, 0.125);               // s: (B, H, Lq, Lk) in place, key_mask: (B, Lk)
/// \endcode
#pragma once

#include <cstdint>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// \f$e^{x_i - m} / \sum_j e^{x_j - m}\f$ along `axis` (negative counts from the end); same shape as x.
Tensor softmax(const Tensor& x, int64_t axis);
/// \f$(x_i - m) - \ln \sum_j e^{x_j - m}\f$ along `axis`; same shape as x.
Tensor log_softmax(const Tensor& x, int64_t axis);
/// Gradient of softmax given its output y and the upstream gradient (both of one shape):
/// \f$y \odot (\bar y - \sum_j \bar y_j y_j)\f$ along `axis`.
Tensor softmax_backward(const Tensor& y, const Tensor& grad_out, int64_t axis);
/// Gradient of log_softmax given its output y and the upstream gradient:
/// \f$\bar y - e^{y} \sum_j \bar y_j\f$ along `axis`.
Tensor log_softmax_backward(const Tensor& y, const Tensor& grad_out, int64_t axis);

/// Attention's softmax, in place on the last axis of a contiguous `scores` (..., Lk) seen as
/// (rows, Lk): each row becomes \f$\mathrm{softmax}(\mathrm{scale} \cdot \mathrm{row})\f$ over the keys j
/// with key_mask[b, j] != 0, where b = row / (rows / B); masked keys get 0, a row with every key
/// masked becomes all zeros. key_mask: (B, Lk) of the scores' dtype, B dividing the number of
/// rows, or undefined (no mask).
void masked_softmax_(Tensor& scores, const Tensor& key_mask, double scale);
/// Backward of masked_softmax_, in place on `grad` (the gradient of the probabilities, same
/// shape as `probs`, contiguous): \f$\bar S = \mathrm{scale} \cdot P \odot (\bar P - \sum_j \bar P_j P_j)\f$
/// along the last axis. Masked keys have P = 0, hence \f$\bar S = 0\f$.
void masked_softmax_backward_(const Tensor& probs, Tensor& grad, double scale);

/// Reference softmax: `exp(x - max(x)) / sum(exp(x - max(x)))` from elementwise ops and reductions.
Tensor softmax_naive(const Tensor& x, int64_t axis);
/// Reference log-softmax: `x - logsumexp(x)`.
Tensor log_softmax_naive(const Tensor& x, int64_t axis);
/// Reference softmax_backward: `y * (g - sum(g * y))`.
Tensor softmax_backward_naive(const Tensor& y, const Tensor& grad_out, int64_t axis);
/// Reference log_softmax_backward: `g - exp(y) * sum(g)`.
Tensor log_softmax_backward_naive(const Tensor& y, const Tensor& grad_out, int64_t axis);
/// Reference masked_softmax_ (not in place: returns the probabilities), plain loops in double.
Tensor masked_softmax_naive(const Tensor& scores, const Tensor& key_mask, double scale);
/// Reference masked_softmax_backward_ (returns \f$\bar S\f$): `scale * p * (g - sum(g * p))`.
Tensor masked_softmax_backward_naive(const Tensor& probs, const Tensor& grad, double scale);

}  // namespace tinydiff
