/// \file
/// \brief Differentiable softmax and log-softmax along an axis, on the tensor library's row kernels.
///
/// Forward (stable, with \f$m = \max_j x_j\f$ along the axis):
/// \f[ y_i = \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad
///     \log\mathrm{softmax}(x)_i = (x_i - m) - \ln \sum_j e^{x_j - m}. \f]
///
/// Backward, from the Jacobian \f$\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)\f$:
/// \f[ \bar x = y \odot \left(\bar y - \textstyle\sum_j \bar y_j y_j\right) \quad\text{(softmax)}, \qquad
///     \bar x = \bar y - \mathrm{softmax}(x) \textstyle\sum_j \bar y_j \quad\text{(log-softmax)}. \f]
/// Both backward passes need only the saved output \f$y\f$ (log-softmax recovers
/// \f$\mathrm{softmax}(x) = e^{y}\f$), so the input is not kept.
///
/// The kernels, forward and backward, are the tensor library's (tensor/softmax.h: one row
/// kernel, shared with attention). `softmax_naive` / `log_softmax_naive` build the same
/// functions from the elementary differentiable ops (exp, sum, div, logsumexp): the
/// documentation of the maths and the oracle the tests compare the ops against, in values and
/// gradients.
///
/// Usage:
/// \code
///   Variable p = softmax(scores, -1);        // scores: (B, H, Lq, Lk)
///   Variable logp = log_softmax(logits, 1);  // logits: (N, C)
/// \endcode
#pragma once

#include <cstdint>

#include "autograd/variable.h"

namespace tinydiff {

/// Softmax along `axis` (negative counts from the end). Same shape as `x`.
Variable softmax(const Variable& x, int64_t axis);

/// Log-softmax along `axis`: \f$x - \mathrm{logsumexp}(x)\f$, computed stably. Same shape as `x`.
Variable log_softmax(const Variable& x, int64_t axis);

/// Reference: `exp(x - m) / sum(exp(x - m), axis)` from elementary ops, with the row maximum m
/// held constant (softmax is shift-invariant, so m carries no gradient). Slow; the test oracle.
Variable softmax_naive(const Variable& x, int64_t axis);

/// Reference: `x - logsumexp(x, axis)` from elementary ops. Slow; the test oracle.
Variable log_softmax_naive(const Variable& x, int64_t axis);

}  // namespace tinydiff
