/// \file
/// \brief Normalisation layers: `GroupNorm` and `LayerNorm` (PyTorch's `nn.GroupNorm`, `nn.LayerNorm`).
///
/// Both normalise groups of values to zero mean and unit (biased) variance, then apply a
/// learned per-channel affine map (see autograd/ops_norm.h):
/// \f[ y = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}\,\gamma + \beta. \f]
/// - GroupNorm (Wu & He 2018, "Group Normalization"): x (B, C, *), the C channels split into
///   `num_groups` groups; statistics per (sample, group) over its channels and positions;
///   \f$\gamma, \beta\f$ per channel (axis 1).
/// - LayerNorm (Ba, Kiros & Hinton 2016, "Layer Normalization"): statistics over the last axis
///   (PyTorch's `normalized_shape` with one entry); \f$\gamma, \beta\f$ per position of that axis.
///
/// Parameters (PyTorch names): `weight` (\f$\gamma\f$, initialised to 1) and `bias`
/// (\f$\beta\f$, initialised to 0), both of shape (C), present when `affine` /
/// `elementwise_affine` is true. No Generator is needed: the initialisation is constant.
///
/// Usage:
/// \code
///   GroupNorm gn({.num_groups = 8, .num_channels = 64});
///   Variable h = gn.forward(x);      // x: (B, 64, H, W)
///   LayerNorm ln({.normalized_shape = 128});
///   Variable z = ln.forward(t);      // t: (B, L, 128)
/// \endcode
#pragma once

#include <cstdint>

#include "nn/module.h"

namespace tinydiff {

/// Options of GroupNorm (PyTorch's constructor arguments).
struct GroupNormOptions {
  int64_t num_groups = 32;   ///< G; must divide num_channels
  int64_t num_channels = 0;  ///< C, the extent of axis 1
  double eps = 1e-5;         ///< \f$\epsilon\f$, added to the variance
  bool affine = true;        ///< learn per-channel weight and bias
};

/// Group normalisation over (B, C, *) inputs.
class GroupNorm : public Module {
 public:
  /// Makes the layer; weight = 1, bias = 0.
  explicit GroupNorm(const GroupNormOptions& options);

  /// x: (B, C, *) -> same shape.
  Variable forward(const Variable& x) const;
  /// `silu(forward(x))` in one fused pass (group_norm_silu): x: (B, C, *) -> same shape.
  Variable forward_silu(const Variable& x) const;

  /// The options given at construction.
  const GroupNormOptions& options() const { return options_; }

  Variable weight;  ///< \f$\gamma\f$: (C); undefined without affine
  Variable bias;    ///< \f$\beta\f$: (C); undefined without affine

 private:
  GroupNormOptions options_;
};

/// Options of LayerNorm. Only the last axis is normalised (`normalized_shape` is one extent).
struct LayerNormOptions {
  int64_t normalized_shape = 0;    ///< extent of the normalised last axis
  double eps = 1e-5;               ///< \f$\epsilon\f$, added to the variance
  bool elementwise_affine = true;  ///< learn weight and bias over the last axis
};

/// Layer normalisation over the last axis.
class LayerNorm : public Module {
 public:
  /// Makes the layer; weight = 1, bias = 0.
  explicit LayerNorm(const LayerNormOptions& options);

  /// x: (..., normalized_shape) -> same shape.
  Variable forward(const Variable& x) const;

  /// The options given at construction.
  const LayerNormOptions& options() const { return options_; }

  Variable weight;  ///< \f$\gamma\f$: (normalized_shape); undefined without elementwise_affine
  Variable bias;    ///< \f$\beta\f$: (normalized_shape); undefined without elementwise_affine

 private:
  LayerNormOptions options_;
};

}  // namespace tinydiff
