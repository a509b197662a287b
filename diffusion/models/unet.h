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

#include <cstdint>
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

/// The U-Net denoiser.
///
/// Its blocks are reached by level (0 = full resolution, levels() - 1 = the deepest) and position in
/// the level: `down_block(level, j)`, `downsample_conv(level)`, `up_block(level, j)`,
/// `up_attention(level)`, `upsample_conv(level)`. They are stored, and named in the state dict, as
/// the PyTorch peer stores them: flat lists in the order forward() runs them (`down.0`, `down.1`, ...;
/// `up.0` is the first block of the deepest level) and the attention blocks keyed by level
/// (`up_attn.2`).
class UNet : public Module {
 public:
  /// Builds the U-Net for `config`, initialising parameters from `gen`.
  UNet(const ModelConfig& config, Generator& gen);
  /// x: (B, C, H, W); t: (B) int64 timesteps; ctx: (B, L, d); mask: (B, L) -> (B, C, H, W).
  Variable forward(const Variable& x, const Tensor& t, const Variable& ctx, const Tensor& mask) const;

  /// ResBlock `j` (0..blocks_per_level-1) of down level `level` (0..levels-1), at resolution
  /// image_size / 2^level; named `down.N` with N = level * blocks_per_level + j. Throws Error when out of range.
  const ResBlock& down_block(int64_t level, int64_t j) const;
  /// The stride-2 conv that halves the resolution after down level `level` (0..levels-2); named
  /// `downsample.N` with N = level. Throws Error when out of range.
  const Conv2d& downsample_conv(int64_t level) const;
  /// ResBlock `j` of up level `level` (the up path runs from level levels-1 to 0); block 0 takes the
  /// concatenation of h and the level's skip. Named `up.N` with N = (levels - 1 - level) * blocks_per_level + j.
  /// Throws Error when out of range.
  const ResBlock& up_block(int64_t level, int64_t j) const;
  /// The attention block of up level `level`, or nullptr when the level has none (its resolution is
  /// not in attention_resolutions); named `up_attn.N` with N = level. Throws Error for a level out of range.
  const AttnBlock* up_attention(int64_t level) const;
  /// The attention block of up level `level`, or nullptr (see the const overload), e.g. to attach
  /// an AttentionRecorder to its cross-attention.
  AttnBlock* up_attention(int64_t level);
  /// The 3x3 conv after the nearest upsampling that takes up level `level` (1..levels-1) to level
  /// `level` - 1; named `upconv.N` with N = levels - 1 - level. Throws Error when out of range.
  const Conv2d& upsample_conv(int64_t level) const;
  /// The config the U-Net was built from.
  const ModelConfig& config() const { return config_; }

  Sequential temb;     ///< Linear(base, 4 base), SiLU, Linear(4 base, 4 base)
  Conv2d inp;          ///< 3x3, image channels -> base
  ResBlock mid1;       ///< middle ResBlock
  AttnBlock mid_attn;  ///< middle attention
  ResBlock mid2;       ///< middle ResBlock
  GroupNorm out_norm;  ///< final norm
  Conv2d out;          ///< 3x3, base -> image channels

 private:
  // Throw Error naming `op` unless 0 <= level < levels() (and 0 <= j < blocks_per_level).
  void check_level(const char* op, int64_t level) const;
  void check_block(const char* op, int64_t level, int64_t j) const;

  ModelConfig config_;
  ModuleList<ResBlock> down_;      // levels x blocks_per_level ResBlocks, level 0 first ("down")
  ModuleList<Conv2d> downsample_;  // stride-2 convs between levels ("downsample")
  ModuleList<ResBlock> up_;        // levels x blocks_per_level ResBlocks, deepest level first ("up")
  ModuleDict<AttnBlock> up_attn_;  // attention per up level, keyed by level index ("up_attn")
  ModuleList<Conv2d> upconv_;      // convs after each nearest upsampling, deepest first ("upconv")
};

}  // namespace tinydiff
