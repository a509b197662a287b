/// \file
/// \brief `tinydiff::Error`, the one exception type of the library, and the check helpers.
///
/// Every precondition of every public function is checked at run time, in every build
/// type (never with `assert`, which vanishes in release builds). A failed check throws
/// `tinydiff::Error` whose message names the operation, shows the shapes involved and
/// says what was expected, e.g.
///
///     matmul: inner dimensions differ: (64, 32) @ (16, 8); expected a.shape[-1] == b.shape[-2]
///
/// Usage:
/// \code
///   TD_CHECK(a.dim() == 2, "matmul", fmt::format("expected a 2-d tensor, got {}", a.shape()));
/// \endcode
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace tinydiff {

/// The exception thrown for every bad input: shapes, dtypes, axes, files, options.
class Error : public std::runtime_error {
 public:
  /// \param op the operation that failed, e.g. "matmul"; \param message what happened and what to do.
  Error(std::string_view op, std::string_view message);
  /// The operation name given at construction.
  const std::string& op() const noexcept { return op_; }

 private:
  std::string op_;
};

}  // namespace tinydiff

/// Throws `tinydiff::Error(op, message)` when `cond` is false. `message` is only built on failure.
#define TD_CHECK(cond, op, message)                        \
  do {                                                     \
    if (!(cond)) throw ::tinydiff::Error((op), (message)); \
  } while (0)
