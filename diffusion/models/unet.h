/// \file
/// \brief The U-Net denoiser \f$\epsilon_\theta(x_t, t, c)\f$ with time embedding and cross-attention to text.
///
/// The U-Net (Ronneberger et al. 2015, in the form of DDPM's Ho et al. 2020 and latent
/// diffusion's Rombach et al. 2022) maps a noisy image \f$x_t\f$, its timestep \f$t\f$ and the
/// text encoding \f$c\f$ to a prediction of the noise in \f$x_t\f$:
///
/// - **time**: a sinusoidal embedding of t (width base) -> Linear -> SiLU -> Linear (width 4 base),
///   added to every ResBlock after its first convolution;
/// - **down path**: per level, ResBlocks (GroupNorm, SiLU, 3x3 conv, + time, GroupNorm, SiLU, 3x3 conv,
///   + a 1x1 conv of the input when widths differ); the output is kept as a skip; then a stride-2
///   3x3 conv halves the resolution (not after the last level);
/// - **middle**: ResBlock -> attention block -> ResBlock;
/// - **up path**: per level from the deepest, a ResBlock on the concatenation of h and the level's
///   skip; an attention block at the configured resolutions; nearest upsampling x2 + 3x3 conv;
/// - **attention block**: self-attention over the H*W pixels, then cross-attention from pixels
///   (queries) to the text tokens (keys, values), honouring the text padding mask; each with a
///   GroupNorm in front and a residual connection. This is where the prompt enters the image.
/// - **out**: GroupNorm, SiLU, 3x3 conv to the image channels.
///
/// Parameter names follow the PyTorch peer (`down.0.c1.weight`, `mid_attn.cross.k_proj_weight`,
/// `up_attn.2.self_attn.in_proj_weight`, `upconv.0.weight`, ...).
///
/// Usage:
/// \code
///   UNet unet(cfg, gen);
///   Variable eps = unet.forward(x_t, t, ctx, mask);  // x_t: (B, C, H, W), t: (B) int64, ctx: (B, L, d)
/// \endcode
#pragma once

#include <map>
#include <memory>

#include "autograd/autograd.h"
#include "diffusion/models/model_config.h"
#include "nn/nn.h"

namespace tinydiff {

/// Residual block with time-embedding injection.
class ResBlock : public Module {
 public:
  /// A block from `in_channels` to `out_channels` with a `time_dim`-wide time embedding.
  ResBlock(int64_t in_channels, int64_t out_channels, int64_t time_dim, int64_t groups, Generator& gen);
  /// x: (B, Cin, H, W), temb: (B, time_dim) -> (B, Cout, H, W).
  Variable forward(const Variable& x, const Variable& temb) const;

  GroupNorm n1;                  ///< norm before the first conv
  Conv2d c1;                     ///< 3x3, Cin -> Cout
  Linear t;                      ///< time embedding -> one shift per channel
  GroupNorm n2;                  ///< norm before the second conv
  Conv2d c2;                     ///< 3x3, Cout -> Cout
  std::unique_ptr<Conv2d> skip;  ///< 1x1, Cin -> Cout, only when the widths differ
};

/// Self-attention over pixels, then cross-attention to the text tokens.
class AttnBlock : public Module {
 public:
  /// Attention over `channels`-wide pixels and `text_width`-wide tokens with `heads` heads.
  AttnBlock(int64_t channels, int64_t text_width, int64_t heads, int64_t groups, Generator& gen);
  /// x: (B, C, H, W), ctx: (B, L, d), mask: (B, L) 1 = token (or undefined) -> (B, C, H, W).
  Variable forward(const Variable& x, const Variable& ctx, const Tensor& mask) const;

  GroupNorm n1;                  ///< norm before self-attention
  MultiHeadAttention self_attn;  ///< pixels attend to pixels
  GroupNorm n2;                  ///< norm before cross-attention
  MultiHeadAttention cross;      ///< pixels attend to text tokens (kdim = vdim = text width)
};

/// A container of modules registered under chosen names (PyTorch's nn.ModuleDict).
template <typename M>
class ModuleDict : public Module {
 public:
  /// Adds `module` under `key` (which must be a valid, new name) and returns it.
  M& insert(const std::string& key, std::unique_ptr<M> module) {
    M& ref = *module;
    register_module(key, ref);
    items_[key] = std::move(module);
    return ref;
  }
  /// The module under `key`, or nullptr.
  const M* find(const std::string& key) const {
    auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second.get();
  }

 private:
  std::map<std::string, std::unique_ptr<M>> items_;
};

/// The U-Net denoiser.
class UNet : public Module {
 public:
  /// Builds the U-Net for `config`, initialising parameters from `gen`.
  UNet(const ModelConfig& config, Generator& gen);
  /// x: (B, C, H, W); t: (B) int64 timesteps; ctx: (B, L, d); mask: (B, L) -> (B, C, H, W).
  Variable forward(const Variable& x, const Tensor& t, const Variable& ctx, const Tensor& mask) const;

  Sequential temb;                ///< Linear(base, 4 base), SiLU, Linear(4 base, 4 base)
  Conv2d inp;                     ///< 3x3, image channels -> base
  ModuleList<ResBlock> down;      ///< levels x blocks_per_level ResBlocks
  ModuleList<Conv2d> downsample;  ///< stride-2 convs between levels
  ResBlock mid1;                  ///< middle ResBlock
  AttnBlock mid_attn;             ///< middle attention
  ResBlock mid2;                  ///< middle ResBlock
  ModuleList<ResBlock> up;        ///< levels x blocks_per_level ResBlocks, deepest level first
  ModuleDict<AttnBlock> up_attn;  ///< attention per up level, keyed by level index
  ModuleList<Conv2d> upconv;      ///< convs after each nearest upsampling
  GroupNorm out_norm;             ///< final norm
  Conv2d out;                     ///< 3x3, base -> image channels

 private:
  ModelConfig config_;
};

}  // namespace tinydiff
