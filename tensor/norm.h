/// \file
/// \brief Layer normalisation, group normalisation and the fused GroupNorm + SiLU: forward and
/// backward kernels.
///
/// Both normalise groups of \f$n\f$ values to zero mean and unit variance, then apply a
/// per-channel affine map (PyTorch semantics: biased variance, \f$\epsilon\f$ inside the root):
/// \f[ \mu = \tfrac1n \textstyle\sum_j x_j, \quad \sigma^2 = \tfrac1n \sum_j (x_j - \mu)^2, \quad
///     r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \quad \hat x_j = (x_j - \mu)\, r, \quad
///     y_j = \gamma_c \hat x_j + \beta_c. \f]
/// - layer norm (Ba, Kiros & Hinton 2016, "Layer Normalization"): one group per row of the
///   last axis; channel c is the position in the row.
/// - group norm (Wu & He 2018, "Group Normalization"): x is (B, C, *); the C channels are
///   split into G groups of C/G consecutive channels, and each (sample, group) is normalised
///   over its channels and all spatial positions; channel c is axis 1.
///
/// The forward returns \f$\mu\f$ and \f$r\f$ per group beside y. With \f$\bar{\hat x}_j = \bar y_j \gamma_c\f$
/// the fused backward is (the gradient of the mean and the variance folded in):
/// \f[ \bar x_j = r \left( \bar{\hat x}_j - \tfrac1n \textstyle\sum_k \bar{\hat x}_k
///       - \hat x_j \tfrac1n \sum_k \bar{\hat x}_k \hat x_k \right), \qquad
///     \bar\gamma_c = \sum_{j \in c} \bar y_j \hat x_j, \qquad \bar\beta_c = \sum_{j \in c} \bar y_j, \f]
/// the parameter sums running over every group and position that uses channel c.
/// The backward is one pass over the groups, in parallel: it writes the input gradient and
/// per-group partial sums of the parameter gradients, which are then added over the batch in a
/// fixed order, in parallel over channels (each output written by one thread; no atomics).
/// Sums over a group run in double with `lane_sum` (tensor/vec_math.h).
///
/// With `NormActivation::SiLU` the group norm is followed by \f$u = z\,\sigma(z)\f$ (z = y above),
/// the pair every U-Net ResBlock applies, fused: the forward writes u in the same pass, and the
/// backward first forms \f$\bar z = \bar u\,\sigma(z)(1 + z(1 - \sigma(z)))\f$ (recomputing z from
/// x, \f$\mu\f$, r, \f$\gamma\f$, \f$\beta\f$; z is never stored) and continues as above with
/// \f$\bar y = \bar z\f$.
///
/// The `_naive` functions compute the same with plain loops in double, the statistics
/// recomputed from x: the documentation and the test oracles.
///
/// Usage:
/// \code
///   NormForward f = group_norm_forward(x, 8, w, b, 1e-5);   // x: (B, 64, H, W), w, b: (64)
///   NormGrads d = group_norm_backward(grad_y, x, 8, w, b, f.mean, f.rstd, NormActivation::None,
///                                     true, true, true);
///   NormForward h = layer_norm_forward(t, Tensor(), Tensor(), 1e-6);   // t: (B, L, D), no affine
/// \endcode
#pragma once

#include <cstdint>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// What follows the normalisation in the fused kernels.
enum class NormActivation {
  None,  ///< y = the normalised, affine-mapped x
  SiLU,  ///< \f$y = z\,\sigma(z)\f$ of that (group norm only)
};

/// What a norm forward returns.
struct NormForward {
  Tensor y;     ///< the output, shape of x
  Tensor mean;  ///< \f$\mu\f$ per group: (B G) for group norm, (rows) for layer norm
  Tensor rstd;  ///< \f$r = 1/\sqrt{\sigma^2 + \epsilon}\f$ per group, same shape as mean
};

/// The gradients of a norm with respect to its input, weight and bias (undefined when not asked for).
struct NormGrads {
  Tensor input;   ///< shape of x
  Tensor weight;  ///< (C)
  Tensor bias;    ///< (C)
};

/// Layer normalisation over the last axis. x: (..., C); weight, bias: (C) or undefined
/// (then \f$\gamma = 1\f$, \f$\beta = 0\f$). Errors name the op "layer_norm".
NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);

/// The gradients of layer_norm_forward asked for, given grad_out (shape of x), x, the weight
/// (or undefined: \f$\gamma = 1\f$; read only for the input gradient) and the forward's mean and rstd.
NormGrads layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool need_input, bool need_weight, bool need_bias);

/// Group normalisation, followed by `act`. x: (B, C, *) e.g. (B, C, H, W) or (B, C, L); C must be
/// divisible by `groups`; weight, bias: (C) or undefined. Errors name the op "group_norm" (or
/// "group_norm_silu").
NormForward group_norm_forward(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                               NormActivation act = NormActivation::None);

/// The gradients of group_norm_forward asked for, given grad_out (shape of x), x, the forward's
/// mean and rstd. The weight is read for the input gradient and with the SiLU, the bias only with
/// the SiLU (each may otherwise be undefined; undefined means \f$\gamma = 1\f$, \f$\beta = 0\f$).
NormGrads group_norm_backward(const Tensor& grad_out, const Tensor& x, int64_t groups, const Tensor& weight,
                              const Tensor& bias, const Tensor& mean, const Tensor& rstd, NormActivation act,
                              bool need_input, bool need_weight, bool need_bias);

/// Reference layer_norm_forward: plain loops in double.
NormForward layer_norm_forward_naive(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
/// Reference layer_norm_backward: plain loops in double, the statistics recomputed from x and eps;
/// every gradient (the weight's and bias's only when they are defined).
NormGrads layer_norm_backward_naive(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                                    double eps);
/// Reference group_norm_forward: plain loops in double.
NormForward group_norm_forward_naive(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                                     double eps, NormActivation act = NormActivation::None);
/// Reference group_norm_backward: plain loops in double, the statistics recomputed from x and eps;
/// every gradient (the weight's and bias's only when they are defined).
NormGrads group_norm_backward_naive(const Tensor& grad_out, const Tensor& x, int64_t groups, const Tensor& weight,
                                    const Tensor& bias, double eps, NormActivation act = NormActivation::None);

}  // namespace tinydiff
