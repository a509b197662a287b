/// \file
/// \brief `gradcheck`: compares an op's analytic gradient with central finite differences in float64.
///
/// For a function \f$f\f$ of inputs \f$x_0, \dots, x_{k-1}\f$ with output \f$y\f$, gradcheck draws a
/// random upstream gradient \f$u\f$ of \f$y\f$'s shape (normal, seeded, so every element of the
/// Jacobian contributes with a different weight) and compares, for every element \f$j\f$ of every
/// float64 input \f$x_i\f$,
///
/// - the analytic value: the gradient left in \f$x_i\f$ by `y.backward(u)`, i.e.
///   \f$(J_i^\top u)_j\f$, and
/// - the numeric value, the central difference
///   \f[ \frac{\langle f(x_i + \epsilon e_j), u\rangle - \langle f(x_i - \epsilon e_j), u\rangle}{2\epsilon}, \f]
///   whose error is \f$O(\epsilon^2)\f$ plus rounding of order \f$10^{-16}/\epsilon\f$.
///
/// An element passes when \f$|a - n| \le \mathrm{atol} + \mathrm{rtol}\,|n|\f$ (NaN never passes).
///
/// Inputs:
/// - float64 tensors become leaves with `requires_grad = true`;
/// - int64 tensors (indices) are passed as constants without a gradient;
/// - float32 tensors are rejected with an Error: finite differences need float64.
///
/// Inputs may be non-contiguous views (transposed, sliced): each element is perturbed *through
/// the view*, so the op sees the strided layout, and is restored exactly afterwards (the
/// caller's storage is written to during the check, then left as it was). Expanded inputs
/// (an axis of stride 0 and extent > 1) are rejected, and inputs must not alias each other:
/// perturbing one element would then move several, and the numeric side would be wrong.
///
/// Keep inputs away from kinks (relu and abs at 0, ties in max, clamp limits): the central
/// difference straddles a kink when an element is within \f$\epsilon\f$ of it.
///
/// Usage:
/// \code
///   Generator gen(1);
///   Tensor a = gen.normal({3, 1}, 0, 1, DType::F64), b = gen.normal({1, 4}, 0, 1, DType::F64);
///   GradcheckResult r = gradcheck("mul", [](const std::vector<Variable>& v) { return mul(v[0], v[1]); },
///                                 {a, b});
///   if (!r.ok) fmt::print("{}\n", r.message);
///   // e.g. "gradcheck(mul): input 1, element (0, 2): analytic 0.5 vs numeric 0.25
///   //       (|diff| 0.25 > atol 1e-05 + rtol 0.001 * 0.25)"
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace tinydiff {

/// Settings of gradcheck().
struct GradcheckOptions {
  /// Finite-difference step \f$\epsilon\f$.
  double eps = 1e-6;
  /// Absolute tolerance.
  double atol = 1e-5;
  /// Relative tolerance, times \f$|\text{numeric}|\f$.
  double rtol = 1e-3;
  /// Seed of the random upstream gradient.
  uint64_t seed = 0;
};

/// The outcome of gradcheck().
struct GradcheckResult {
  /// True when every element of every float64 input passed.
  bool ok = true;
  /// On failure: the op, the input index, the worst element's multi-index, both values and the
  /// tolerance. On success: a one-line summary with the largest error.
  std::string message;
  /// The largest \f$|a - n|\f$ over all checked elements.
  double max_abs_error = 0;
};

/// Checks the analytic gradient of f against central finite differences, in float64.
/// \param name the op's name, used in the message.
/// \param f builds the output from the inputs (as Variables, in the order of `inputs`).
/// \param inputs float64 tensors (checked) and int64 tensors (constants); see the file overview.
/// \param options step, tolerances and seed.
/// Throws Error for float32 inputs, expanded inputs or a non-float64 output.
GradcheckResult gradcheck(const std::string& name, const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace tinydiff
