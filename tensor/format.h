/// \file
/// \brief Printing tensors with fmt: `fmt::format("{}", t)` shows shape, dtype and values; and
/// `group_thousands` for counts ("1,292,001").
///
/// The layout follows PyTorch's: one row of the last axis per line, a blank line between
/// 2-d blocks, every entry right-aligned to the widest one, and a suffix with the shape and
/// dtype:
///
///     tensor([[1.0000, 2.0000, 3.0000],
///             [4.0000, 5.0000, 6.0000]], shape=(2, 3), dtype=float32)
///
/// - Floating-point values print with 4 decimals, or in scientific notation (`1.0000e-05`)
///   when the finite nonzero magnitudes exceed \f$10^8\f$, fall below \f$10^{-4}\f$ or span
///   more than a factor \f$10^3\f$ (PyTorch's rule); `nan`, `inf`, `-inf` as such.
/// - int64 values print as integers, exactly.
/// - An axis with more than 6 entries is elided to its first 3 and last 3, with `...` in
///   between (whatever the total size; rows are not wrapped at 80 columns as in PyTorch).
/// - `fmt::formatter` specialisations make `fmt::format("{}", t)` print `to_string(t)`, and
///   `fmt::format("{}", dtype)` print `dtype_name(dtype)`.
/// - A 0-d tensor prints its value, `tensor(3.5000, shape=(), dtype=float32)`; an empty one
///   `tensor([], shape=(0, 3), dtype=float32)`; an undefined one `tensor(undefined)`.
///
/// Usage:
/// \code
///   Tensor t = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
///   fmt::print("{}\n", t);
///   std::string s = to_string(t);   // the same text
///   std::string n = group_thousands(1292001);   // "1,292,001"
/// \endcode
#pragma once

#include <fmt/format.h>

#include <string>

#include "tensor/tensor_core.h"

namespace tinydiff {
/// The text fmt prints for a tensor (see the file overview for the layout).
std::string to_string(const Tensor& t);

/// `n` in decimal with a comma between groups of three digits: 1292001 -> "1,292,001",
/// -1234 -> "-1,234", 999 -> "999" (parameter counts in tables and logs).
std::string group_thousands(int64_t n);
}  // namespace tinydiff

// The fmt formatters live in fmt's namespace, which the manual does not document; \cond hides them.
/// \cond
/// Lets fmt print a Tensor: `fmt::format("{}", t)` is `tinydiff::to_string(t)`.
template <>
struct fmt::formatter<tinydiff::Tensor> : fmt::formatter<std::string> {
  /// Writes to_string(t) to the output, honouring the string format spec (e.g. width).
  template <typename Ctx>
  auto format(const tinydiff::Tensor& t, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(tinydiff::to_string(t), ctx);
  }
};

/// Lets fmt print a DType by its name: "float32", "float64" or "int64".
template <>
struct fmt::formatter<tinydiff::DType> : fmt::formatter<std::string_view> {
  /// Writes dtype_name(d) to the output.
  template <typename Ctx>
  auto format(tinydiff::DType d, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tinydiff::dtype_name(d), ctx);
  }
};
/// \endcond
