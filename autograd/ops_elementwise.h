/// \file
/// \brief Differentiable elementwise ops on Variables: arithmetic (broadcasting), unary maths,
/// activations, clamp and where, plus the operators `+ - * /`.
///
/// Each op computes its value with the tensor library (tensor/elementwise.h) and records a
/// backward function when an input requires a gradient. For a binary op \f$y = f(a, b)\f$
/// whose inputs were broadcast, the gradient of each input is
/// \f$\bar a = \mathrm{sum\_to}(\bar y \odot \partial f/\partial a,\ \mathrm{shape}(a))\f$:
/// broadcasting copies a value to many outputs, so its adjoint sums over them.
///
/// Both operands of a binary op must have the same dtype (float32 with float32, float64 with
/// float64); a mix throws an Error that names the op and both shapes and dtypes.
///
/// Conventions at kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, clamp passes the gradient
/// where lo <= x <= hi (inclusive), and maximum/minimum split the gradient equally between
/// the operands where a == b.
///
/// Usage:
/// \code
///   Variable x(gen.normal({4, 3}, 0, 1, DType::F64), true);
///   Variable b(Tensor::zeros({3}, DType::F64), true);
///   Variable loss = sum(square(silu(x * 2.0 + b)));
///   loss.backward();   // x.grad(), b.grad() (b's summed over the 4 rows)
/// \endcode
#pragma once

#include "autograd/variable.h"

namespace tinydiff {

// --- Binary (broadcasting) ------------------------------------------------------------------
/// \f$a + b\f$; \f$\bar a = \bar y,\ \bar b = \bar y\f$ (each summed to its input's shape).
Variable add(const Variable& a, const Variable& b);
/// \f$a - b\f$; \f$\bar a = \bar y,\ \bar b = -\bar y\f$.
Variable sub(const Variable& a, const Variable& b);
/// \f$a b\f$; \f$\bar a = \bar y\, b,\ \bar b = \bar y\, a\f$.
Variable mul(const Variable& a, const Variable& b);
/// \f$a / b\f$; \f$\bar a = \bar y / b,\ \bar b = -\bar y\, a / b^2\f$.
Variable div(const Variable& a, const Variable& b);
/// \f$a^b\f$ (needs \f$a > 0\f$ where b requires a gradient);
/// \f$\bar a = \bar y\, b\, a^{b-1},\ \bar b = \bar y\, a^b \ln a\f$.
Variable pow(const Variable& a, const Variable& b);
/// Elementwise \f$\max(a, b)\f$; the gradient goes to the larger operand, half to each on ties.
Variable maximum(const Variable& a, const Variable& b);
/// Elementwise \f$\min(a, b)\f$; the gradient goes to the smaller operand, half to each on ties.
Variable minimum(const Variable& a, const Variable& b);

// --- With a scalar (the scalar is a constant) ------------------------------------------------
Variable add(const Variable& a, double s);  ///< \f$a + s\f$
Variable add(double s, const Variable& a);  ///< \f$s + a\f$
Variable sub(const Variable& a, double s);  ///< \f$a - s\f$
Variable sub(double s, const Variable& a);  ///< \f$s - a\f$
Variable mul(const Variable& a, double s);  ///< \f$a s\f$
Variable mul(double s, const Variable& a);  ///< \f$s a\f$
Variable div(const Variable& a, double s);  ///< \f$a / s\f$
Variable div(double s, const Variable& a);  ///< \f$s / a\f$; \f$\bar a = -\bar y\, s / a^2\f$
/// \f$a^p\f$ for a constant p; \f$\bar a = \bar y\, p\, a^{p-1}\f$ (zero for p = 0).
Variable pow(const Variable& a, double p);

// --- Unary -------------------------------------------------------------------------------------
Variable neg(const Variable& x);      ///< \f$-x\f$
Variable exp(const Variable& x);      ///< \f$e^x\f$; \f$\bar x = \bar y\, e^x\f$
Variable log(const Variable& x);      ///< \f$\ln x\f$; \f$\bar x = \bar y / x\f$
Variable sqrt(const Variable& x);     ///< \f$\sqrt x\f$; \f$\bar x = \bar y / (2\sqrt x)\f$
Variable rsqrt(const Variable& x);    ///< \f$x^{-1/2}\f$; \f$\bar x = -\tfrac12 \bar y\, x^{-3/2}\f$
Variable abs(const Variable& x);      ///< \f$|x|\f$; \f$\bar x = \bar y\,\mathrm{sign}(x)\f$ (0 at 0)
Variable square(const Variable& x);   ///< \f$x^2\f$; \f$\bar x = 2 \bar y\, x\f$
Variable sin(const Variable& x);      ///< \f$\sin x\f$; \f$\bar x = \bar y \cos x\f$
Variable cos(const Variable& x);      ///< \f$\cos x\f$; \f$\bar x = -\bar y \sin x\f$
Variable tanh(const Variable& x);     ///< \f$\tanh x\f$; \f$\bar x = \bar y (1 - \tanh^2 x)\f$
Variable sigmoid(const Variable& x);  ///< \f$\sigma(x)\f$; \f$\bar x = \bar y\, \sigma(x)(1 - \sigma(x))\f$
Variable relu(const Variable& x);     ///< \f$\max(x, 0)\f$; \f$\bar x = \bar y\,[x > 0]\f$
/// SiLU / swish \f$x\,\sigma(x)\f$ (Elfwing et al. 2018); \f$\bar x = \bar y\,\sigma(x)(1 + x(1 - \sigma(x)))\f$.
Variable silu(const Variable& x);
/// Exact GELU \f$x\,\Phi(x)\f$ (Hendrycks & Gimpel 2016); \f$\bar x = \bar y\,(\Phi(x) + x\,\varphi(x))\f$
/// with \f$\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}\f$.
Variable gelu_erf(const Variable& x);
/// GELU, tanh approximation \f$\tfrac x2 (1 + \tanh u)\f$, \f$u = \sqrt{2/\pi}\,(x + 0.044715 x^3)\f$;
/// \f$\bar x = \bar y \left(\tfrac12 (1 + \tanh u) + \tfrac x2 (1 - \tanh^2 u)\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715
/// x^2)\right)\f$.
Variable gelu_tanh(const Variable& x);
/// Limits every element to [lo, hi]; \f$\bar x = \bar y\,[lo \le x \le hi]\f$.
Variable clamp(const Variable& x, double lo, double hi);

/// `cond != 0 ? a : b`, broadcast together. `cond` is a constant tensor of a's dtype (e.g. from
/// gt()); \f$\bar a = \bar y\,[c \ne 0],\ \bar b = \bar y\,[c = 0]\f$.
Variable where(const Tensor& cond, const Variable& a, const Variable& b);

// --- Operators -------------------------------------------------------------------------------
inline Variable operator+(const Variable& a, const Variable& b) { return add(a, b); }  ///< add(a, b)
inline Variable operator-(const Variable& a, const Variable& b) { return sub(a, b); }  ///< sub(a, b)
inline Variable operator*(const Variable& a, const Variable& b) { return mul(a, b); }  ///< mul(a, b)
inline Variable operator/(const Variable& a, const Variable& b) { return div(a, b); }  ///< div(a, b)
inline Variable operator+(const Variable& a, double s) { return add(a, s); }           ///< add(a, s)
inline Variable operator+(double s, const Variable& a) { return add(s, a); }           ///< add(s, a)
inline Variable operator-(const Variable& a, double s) { return sub(a, s); }           ///< sub(a, s)
inline Variable operator-(double s, const Variable& a) { return sub(s, a); }           ///< sub(s, a)
inline Variable operator*(const Variable& a, double s) { return mul(a, s); }           ///< mul(a, s)
inline Variable operator*(double s, const Variable& a) { return mul(s, a); }           ///< mul(s, a)
inline Variable operator/(const Variable& a, double s) { return div(a, s); }           ///< div(a, s)
inline Variable operator/(double s, const Variable& a) { return div(s, a); }           ///< div(s, a)
inline Variable operator-(const Variable& x) { return neg(x); }                        ///< neg(x)

}  // namespace tinydiff
