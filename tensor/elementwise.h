/// \file
/// \brief Broadcasting elementwise operations: arithmetic, unary maths, activations, comparisons.
///
/// Binary operations broadcast like NumPy and PyTorch: shapes are aligned at the last axis,
/// and an axis of extent 1 (or a missing leading axis) is repeated to match the other
/// operand. `(B, C, H, W) + (C, 1, 1)` adds one value per channel. Both operands must have
/// the same dtype (no silent promotion); a mismatch throws, naming the op and both shapes:
///
///     add: cannot broadcast (4, 3) with (2, 3): axis -2 has extents 4 and 2
///
/// Results are new contiguous tensors. Kernels take a fast path when every operand is
/// contiguous with the output's shape, and otherwise walk strides (so views need no copy).
///
/// Usage:
/// \code
///   Tensor y = silu(add(x, bias.reshape({1, C, 1, 1})));
///   Tensor z = x * 2.0 + 1.0;
/// \endcode
#pragma once

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Shape of the broadcast of `a` and `b`; throws Error(op) when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op = "broadcast");

// --- Binary (broadcasting) ------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);      ///< \f$a + b\f$
Tensor sub(const Tensor& a, const Tensor& b);      ///< \f$a - b\f$
Tensor mul(const Tensor& a, const Tensor& b);      ///< \f$a b\f$
Tensor div(const Tensor& a, const Tensor& b);      ///< \f$a / b\f$
Tensor pow(const Tensor& a, const Tensor& b);      ///< \f$a^b\f$
Tensor maximum(const Tensor& a, const Tensor& b);  ///< elementwise \f$\max(a, b)\f$
Tensor minimum(const Tensor& a, const Tensor& b);  ///< elementwise \f$\min(a, b)\f$

// --- With a scalar -----------------------------------------------------------------------
Tensor add(const Tensor& a, double s);  ///< \f$a + s\f$
Tensor sub(const Tensor& a, double s);  ///< \f$a - s\f$
Tensor sub(double s, const Tensor& a);  ///< \f$s - a\f$
Tensor mul(const Tensor& a, double s);  ///< \f$a s\f$
Tensor div(const Tensor& a, double s);  ///< \f$a / s\f$
Tensor div(double s, const Tensor& a);  ///< \f$s / a\f$
Tensor pow(const Tensor& a, double p);  ///< \f$a^p\f$

// --- Unary -------------------------------------------------------------------------------
Tensor neg(const Tensor& x);      ///< \f$-x\f$
Tensor exp(const Tensor& x);      ///< \f$e^x\f$
Tensor log(const Tensor& x);      ///< \f$\ln x\f$
Tensor sqrt(const Tensor& x);     ///< \f$\sqrt{x}\f$
Tensor rsqrt(const Tensor& x);    ///< \f$1/\sqrt{x}\f$
Tensor abs(const Tensor& x);      ///< \f$|x|\f$
Tensor square(const Tensor& x);   ///< \f$x^2\f$
Tensor sin(const Tensor& x);      ///< \f$\sin x\f$
Tensor cos(const Tensor& x);      ///< \f$\cos x\f$
Tensor tanh(const Tensor& x);     ///< \f$\tanh x\f$
Tensor sigmoid(const Tensor& x);  ///< \f$\sigma(x) = 1/(1+e^{-x})\f$
Tensor relu(const Tensor& x);     ///< \f$\max(x, 0)\f$
Tensor silu(const Tensor& x);     ///< \f$x\,\sigma(x)\f$ (Elfwing et al. 2018; "swish")
/// GELU, exact form \f$x\,\Phi(x) = \tfrac{x}{2}\left(1 + \mathrm{erf}(x/\sqrt{2})\right)\f$ (Hendrycks & Gimpel 2016).
Tensor gelu_erf(const Tensor& x);
/// GELU, tanh approximation \f$\tfrac{x}{2}\left(1 + \tanh\!\left(\sqrt{2/\pi}\,(x + 0.044715 x^3)\right)\right)\f$.
Tensor gelu_tanh(const Tensor& x);
/// Limits every element to [lo, hi].
Tensor clamp(const Tensor& x, double lo, double hi);

// --- Comparisons and selection (results are 1.0 / 0.0 in the operands' dtype) -------------
/// Elementwise comparisons: 1.0 where the relation holds, else 0.0; `eq` \f$a = b\f$,
/// `ne` \f$a \ne b\f$, `lt` \f$a < b\f$, `le` \f$a \le b\f$, `gt` \f$a > b\f$, `ge` \f$a \ge b\f$.
/// `b` broadcasts, or is a scalar `s`.
///@{
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, double s);
Tensor lt(const Tensor& a, double s);
///@}
/// `cond != 0 ? a : b`, all three broadcast together; `cond` has the dtype of `a` and `b`.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// --- In place (the destination keeps its shape; the source broadcasts to it) -------------
/// dst += alpha * src. Used for gradient accumulation and optimizer updates.
void add_(Tensor& dst, const Tensor& src, double alpha = 1.0);
/// dst *= s.
void mul_(Tensor& dst, double s);

// --- Whole-tensor checks ----------------------------------------------------------------
/// True when every element is finite (no NaN, no infinity).
bool all_finite(const Tensor& x);
/// max |a - b| over the broadcast of a and b (both converted to double).
double max_abs_diff(const Tensor& a, const Tensor& b);
/// True when |a - b| <= atol + rtol |b| everywhere (like numpy.allclose).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

// --- Operators ----------------------------------------------------------------------------
/// Arithmetic operators, shorthands for add, sub, mul, div and neg (with tensors or scalars,
/// broadcasting as those do): `x * 2.0 + 1.0` is `add(mul(x, 2.0), 1.0)`.
///@{
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
inline Tensor operator-(double s, const Tensor& a) { return sub(s, a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, s); }
inline Tensor operator/(double s, const Tensor& a) { return div(s, a); }
///@}

}  // namespace tinydiff
