/// \file
/// \brief Reductions along axes (sum, mean, var, max, min, argmax) and logsumexp.
///
/// `axes` lists the axes to reduce (negative values count from the end); an empty list
/// reduces over all axes. With `keepdim` the reduced axes stay as extent 1, so the result
/// broadcasts against the input: `x - mean(x, {-1}, true)` centres each row.
///
/// \f$\mathrm{logsumexp}(x) = m + \ln \sum_j e^{x_j - m}\f$ with \f$m = \max_j x_j\f$ (no overflow).
/// Softmax and log-softmax are in tensor/softmax.h.
///
/// Usage:
/// \code
///   Tensor mu = mean(x, {1, 2, 3}, true);      // x: (B, C, H, W) -> (B, 1, 1, 1)
///   Tensor lse = logsumexp(logits, {-1});      // logits: (N, C) -> (N)
/// \endcode
#pragma once

#include <vector>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Sum \f$\sum_i x_i\f$ over `axes` (all axes when empty).
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// Mean \f$\frac{1}{N}\sum_i x_i\f$ over `axes` (all axes when empty), N the number of reduced elements.
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// Variance \f$\frac{1}{N - c}\sum (x - \bar x)^2\f$ with `correction` c: 1 (PyTorch's default,
/// unbiased) or 0 (the population variance that normalisation layers use).
Tensor var(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false, int64_t correction = 1);
/// Largest element over `axes` (all axes when empty).
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// Smallest element over `axes` (all axes when empty).
Tensor min(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// Index (int64) of the largest element along `axis`; the first one on ties.
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);

/// \f$m + \ln \sum_j e^{x_j - m}\f$ over `axes`, with \f$m\f$ the maximum (no overflow).
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);

/// Sums `x` down to `shape`, undoing a broadcast: axes that `shape` lacks or has as 1 are
/// summed. This is the backward of broadcasting. Throws when `shape` does not broadcast to x.
/// When nothing needs summing (x already has `shape`, or differs only by extent-1 axes) the
/// result is a view of x, sharing its storage (no copy), as in PyTorch.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace tinydiff
