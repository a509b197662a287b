// GroupNorm and LayerNorm layers. See norm.h.
#include "nn/norm.h"

#include <fmt/format.h>

#include "autograd/ops_norm.h"

namespace tinydiff {

GroupNorm::GroupNorm(const GroupNormOptions& options) : options_(options) {
  TD_CHECK(options.num_groups > 0 && options.num_channels > 0 && options.num_channels % options.num_groups == 0,
           "GroupNorm",
           fmt::format("num_channels ({}) must be a positive multiple of num_groups ({})", options.num_channels,
                       options.num_groups));
  TD_CHECK(options.eps > 0, "GroupNorm", fmt::format("eps must be positive, got {}", options.eps));
  if (options.affine) {
    weight = register_parameter("weight", Tensor::ones({options.num_channels}));
    bias = register_parameter("bias", Tensor::zeros({options.num_channels}));
  }
}

Variable GroupNorm::forward(const Variable& x) const {
  TD_CHECK(x.dim() >= 2 && x.size(1) == options_.num_channels, "GroupNorm",
           fmt::format("input of shape {}: expected (B, {}, ...)", shape_str(x.shape()), options_.num_channels));
  // x: (B, C, *) -> (B, C, *)
  return group_norm(x, options_.num_groups, weight, bias, options_.eps);
}

Variable GroupNorm::forward_silu(const Variable& x) const {
  TD_CHECK(x.dim() >= 2 && x.size(1) == options_.num_channels, "GroupNorm",
           fmt::format("input of shape {}: expected (B, {}, ...)", shape_str(x.shape()), options_.num_channels));
  // x: (B, C, *) -> (B, C, *)
  return group_norm_silu(x, options_.num_groups, weight, bias, options_.eps);
}

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options) {
  TD_CHECK(options.normalized_shape > 0, "LayerNorm",
           fmt::format("normalized_shape must be positive, got {}", options.normalized_shape));
  TD_CHECK(options.eps > 0, "LayerNorm", fmt::format("eps must be positive, got {}", options.eps));
  if (options.elementwise_affine) {
    weight = register_parameter("weight", Tensor::ones({options.normalized_shape}));
    bias = register_parameter("bias", Tensor::zeros({options.normalized_shape}));
  }
}

Variable LayerNorm::forward(const Variable& x) const {
  TD_CHECK(x.dim() >= 1 && x.size(-1) == options_.normalized_shape, "LayerNorm",
           fmt::format("input of shape {}: expected the last axis to be {}", shape_str(x.shape()),
                       options_.normalized_shape));
  // x: (..., D) -> (..., D)
  return layer_norm(x, weight, bias, options_.eps);
}

}  // namespace tinydiff
