/// \file
/// \brief Differentiable layer normalisation, group normalisation and GroupNorm + SiLU, on the tensor library's fused
/// kernels.
///
/// Both normalise groups of \f$n\f$ values to zero mean and unit variance, then apply a
/// per-channel affine map (PyTorch semantics: biased variance, \f$\epsilon\f$ inside the root):
/// \f[ \mu = \tfrac1n \textstyle\sum_j x_j, \quad \sigma^2 = \tfrac1n \sum_j (x_j - \mu)^2, \quad
///     r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \quad \hat x_j = (x_j - \mu)\, r, \quad
///     y_j = \gamma_c \hat x_j + \beta_c. \f]
/// - `layer_norm` (Ba, Kiros & Hinton 2016, "Layer Normalization"): one group per row of the
///   last axis; channel c is the position in the row.
/// - `group_norm` (Wu & He 2018, "Group Normalization"): x is (B, C, *); the C channels are
///   split into G groups of C/G consecutive channels, and each (sample, group) is normalised
///   over its channels and all spatial positions; channel c is axis 1.
///
/// The forward saves \f$\mu\f$ and \f$r\f$ per group. With \f$\bar{\hat x}_j = \bar y_j \gamma_c\f$
/// the backward is (the gradient of the mean and the variance folded in):
/// \f[ \bar x_j = r \left( \bar{\hat x}_j - \tfrac1n \textstyle\sum_k \bar{\hat x}_k
///       - \hat x_j \tfrac1n \sum_k \bar{\hat x}_k \hat x_k \right), \qquad
///     \bar\gamma_c = \sum_{j \in c} \bar y_j \hat x_j, \qquad \bar\beta_c = \sum_{j \in c} \bar y_j, \f]
/// the parameter sums running over every group and position that uses channel c.
///
/// `group_norm_silu` is \f$\mathrm{SiLU}(\mathrm{GroupNorm}(x))\f$, \f$u = z\,\sigma(z)\f$ with \f$z = y\f$
/// above, the pair every U-Net ResBlock applies, fused: the forward writes u in the same pass,
/// and the backward first forms \f$\bar z = \bar u\,\sigma(z)(1 + z(1 - \sigma(z)))\f$ (recomputing
/// z from x, \f$\mu\f$, r, \f$\gamma\f$, \f$\beta\f$; z is never stored) and continues as above with
/// \f$\bar y = \bar z\f$. Its oracle `group_norm_silu_naive` is `silu(group_norm_naive(...))`.
///
/// The kernels, forward and backward (one parallel pass over the groups, deterministic for a
/// thread count), are the tensor library's: tensor/norm.h.
///
/// `layer_norm_naive` and `group_norm_naive` compose the same maths from elementary ops,
/// `(x - mean(x)) * rsqrt(var(x, correction 0) + eps) * w + b`: the test oracles.
///
/// Usage:
/// \code
///   Variable h = layer_norm(x, gamma, beta);          // x: (B, L, D), gamma, beta: (D)
///   Variable z = group_norm(feat, 8, gn_w, gn_b);     // feat: (B, 64, H, W), gn_w, gn_b: (64)
///   Variable u = layer_norm(x, Variable(), Variable(), 1e-6);   // no affine parameters
///   Variable a = group_norm_silu(feat, 8, gn_w, gn_b);          // silu(group_norm(...)), fused
/// \endcode
#pragma once

#include <cstdint>

#include "autograd/variable.h"

namespace tinydiff {

/// Layer normalisation over the last axis. x: (..., C); weight, bias: (C) or undefined
/// Variables (then \f$\gamma = 1\f$, \f$\beta = 0\f$). Returns the shape of x.
Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps = 1e-5);

/// Group normalisation. x: (B, C, *) e.g. (B, C, H, W) or (B, C, L); C must be divisible by
/// `groups`; weight, bias: (C) or undefined Variables. Returns the shape of x.
Variable group_norm(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps = 1e-5);

/// \f$\mathrm{SiLU}(\mathrm{GroupNorm}(x))\f$ in one fused op (see the file overview); arguments as group_norm.
Variable group_norm_silu(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias,
                         double eps = 1e-5);

/// Reference layer_norm from elementary ops (mean, var, rsqrt, mul, add). Slow; the test oracle.
Variable layer_norm_naive(const Variable& x, const Variable& weight, const Variable& bias, double eps = 1e-5);

/// Reference group_norm from elementary ops on x reshaped to (B, G, -1). Slow; the test oracle.
Variable group_norm_naive(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias,
                          double eps = 1e-5);

/// Reference group_norm_silu: `silu(group_norm_naive(x, groups, weight, bias, eps))`. The test oracle.
Variable group_norm_silu_naive(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias,
                               double eps = 1e-5);

}  // namespace tinydiff
