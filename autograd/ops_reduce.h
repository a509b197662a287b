/// \file
/// \brief Differentiable reductions on Variables: sum, mean, var, max and logsumexp.
///
/// `axes` lists the axes to reduce (negative values count from the end); an empty list
/// reduces over every axis. With `keepdim` the reduced axes stay as extent 1. The backward of
/// a reduction broadcasts the adjoint back over the reduced axes:
///
/// - sum: \f$\bar x_i = \bar y\f$; mean: \f$\bar x_i = \bar y / N\f$ (N elements per output);
/// - var with correction c: \f$\bar x_i = \bar y\, \frac{2 (x_i - \bar x)}{N - c}\f$;
/// - max: the adjoint goes to the element(s) holding the maximum. **Tie rule**: when several
///   elements share the maximum, the adjoint is split equally among them (like PyTorch's
///   `amax`), so \f$\bar x_i = \bar y\,[x_i = y] / \#\{j : x_j = y\}\f$;
/// - logsumexp: \f$\bar x_i = \bar y\, e^{x_i - y}\f$ (the softmax of x along the axes).
///
/// Usage:
/// \code
///   Variable x(gen.normal({4, 8}, 0, 1, DType::F64), true);
///   Variable centred = x - mean(x, {-1}, true);          // (4, 8)
///   Variable loss = mean(square(centred));
///   loss.backward();
/// \endcode
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace tinydiff {

/// \f$\sum x\f$ over `axes` (all when empty).
Variable sum(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// Mean over `axes` (all when empty).
Variable mean(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// Variance \f$\frac{1}{N - c}\sum (x - \bar x)^2\f$ over `axes`, with `correction` c
/// (1: unbiased, PyTorch's default; 0: population variance, as normalisation layers use).
Variable var(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false, int64_t correction = 1);
/// Largest value over `axes`; ties split the gradient equally (see the file overview).
Variable max(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// \f$\ln \sum e^{x}\f$ over `axes`, computed stably (tensor/reduce.h).
Variable logsumexp(const Variable& x, const std::vector<int64_t>& axes, bool keepdim = false);

}  // namespace tinydiff
