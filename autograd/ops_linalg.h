/// \file
/// \brief Differentiable matrix products: batched, broadcasting `matmul` and `linear`.
///
/// For \f$Y = A B\f$ with upstream gradient \f$\bar Y = \partial L / \partial Y\f$:
/// \f[ \bar A = \bar Y B^\top, \qquad \bar B = A^\top \bar Y. \f]
/// With batch axes the same holds matrix by matrix; where a batch axis of an operand was
/// broadcast (extent 1 or missing), its gradient is the sum over that axis (`sum_to`).
/// 1-d operands follow `torch.matmul`: a vector on the left is a row (1, K), on the right a
/// column (K, 1), and the added axis is dropped from the result.
///
/// `linear` is PyTorch's `F.linear`, \f$y = x W^\top + b\f$ with x: (..., in), W: (out, in),
/// b: (out). Its gradients flatten every leading axis of x into one row axis (N rows):
/// \f[ \bar x = \bar y W, \qquad \bar W = \bar y^\top x \;(\text{summed over all N rows}),
///     \qquad \bar b = \textstyle\sum_{n} \bar y_n. \f]
/// All products run on the tensor library's GEMM (OpenBLAS).
///
/// Usage:
/// \code
///   Variable scores = matmul(q, transpose(k, -2, -1));   // (B, H, L, D) @ (B, H, D, L)
///   Variable h = linear(x, w1, b1);                      // x: (B, L, in), w1: (out, in) -> (B, L, out)
///   Variable y = linear(h, w2, Variable());              // no bias
/// \endcode
#pragma once

#include "autograd/variable.h"

namespace tinydiff {

/// Matrix product with torch.matmul semantics (1-d promotion, broadcasting batch axes).
/// a: (..., M, K) or (K); b: (..., K, N) or (K) -> (broadcast(...), M, N) minus promoted axes.
Variable matmul(const Variable& a, const Variable& b);

/// \f$y = x W^\top + b\f$. x: (..., in); weight: (out, in); bias: (out) or an undefined Variable.
/// Returns (..., out).
Variable linear(const Variable& x, const Variable& weight, const Variable& bias = Variable());

}  // namespace tinydiff
