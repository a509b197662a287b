// The U-Net denoiser. See unet.h.
#include "diffusion/models/unet.h"

#include <fmt/format.h>

#include <algorithm>

namespace tinydiff {

// ---------------------------------------------------------------------------------------
// ResBlock

ResBlock::ResBlock(int64_t cin, int64_t cout, int64_t time_dim, int64_t groups, Generator& gen)
    : n1(GroupNormOptions{groups, cin}),
      c1(Conv2dOptions{cin, cout, 3, 1, 1}, gen),
      t(LinearOptions{time_dim, cout}, gen),
      n2(GroupNormOptions{groups, cout}),
      c2(Conv2dOptions{cout, cout, 3, 1, 1}, gen) {
  register_module("n1", n1);
  register_module("c1", c1);
  register_module("t", t);
  register_module("n2", n2);
  register_module("c2", c2);
  if (cin != cout) {
    skip = std::make_unique<Conv2d>(Conv2dOptions{cin, cout, 1, 1, 0}, gen);
    register_module("skip", *skip);
  }
}

Variable ResBlock::forward(const Variable& x, const Variable& temb) const {
  // x: (B, Cin, H, W), temb: (B, T)
  Variable h = c1.forward(n1.forward_silu(x));                           // h: (B, Cout, H, W)
  Variable shift = unsqueeze(unsqueeze(t.forward(silu(temb)), -1), -1);  // shift: (B, Cout, 1, 1)
  h = add(h, shift);
  h = c2.forward(n2.forward_silu(h));  // h: (B, Cout, H, W)
  return add(h, skip ? skip->forward(x) : x);
}

// ---------------------------------------------------------------------------------------
// AttnBlock

AttnBlock::AttnBlock(int64_t channels, int64_t text_width, int64_t heads, int64_t groups, Generator& gen)
    : n1(GroupNormOptions{groups, channels}),
      self_attn(MultiHeadAttentionOptions{channels, heads}, gen),
      n2(GroupNormOptions{groups, channels}),
      cross(MultiHeadAttentionOptions{channels, heads, text_width, text_width}, gen) {
  register_module("n1", n1);
  register_module("self_attn", self_attn);
  register_module("n2", n2);
  register_module("cross", cross);
}

Variable AttnBlock::forward(const Variable& x, const Variable& ctx, const Tensor& mask) const {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // Pixels as a sequence: (B, C, H, W) -> (B, C, HW) -> (B, HW, C)
  Variable q = transpose(flatten(n1.forward(x), 2), 1, 2);
  Variable a = self_attn.forward(q);                                 // a: (B, HW, C)
  Variable out = add(x, reshape(transpose(a, 1, 2), {b, c, h, w}));  // out: (B, C, H, W)
  q = transpose(flatten(n2.forward(out), 2), 1, 2);                  // q: (B, HW, C)
  a = cross.forward(q, ctx, ctx, mask);                              // a: (B, HW, C)
  return add(out, reshape(transpose(a, 1, 2), {b, c, h, w}));
}

// ---------------------------------------------------------------------------------------
// UNet

namespace {
int64_t width(const ModelConfig& c, int64_t level) {
  return c.base_channels * c.channel_mults[static_cast<size_t>(level)];
}
}  // namespace

UNet::UNet(const ModelConfig& cfg, Generator& gen)
    : inp(Conv2dOptions{cfg.image_channels, cfg.base_channels, 3, 1, 1}, gen),
      mid1(width(cfg, cfg.levels() - 1), width(cfg, cfg.levels() - 1), cfg.time_dim(), cfg.groups, gen),
      mid_attn(width(cfg, cfg.levels() - 1), cfg.text_width, cfg.attention_heads, cfg.groups, gen),
      mid2(width(cfg, cfg.levels() - 1), width(cfg, cfg.levels() - 1), cfg.time_dim(), cfg.groups, gen),
      out_norm(GroupNormOptions{cfg.groups, width(cfg, 0)}),
      out(Conv2dOptions{width(cfg, 0), cfg.image_channels, 3, 1, 1}, gen),
      config_(cfg) {
  validate(cfg);
  const int64_t tdim = cfg.time_dim(), n = cfg.levels(), g = cfg.groups;
  temb.emplace_back<Linear>(LinearOptions{cfg.base_channels, tdim}, gen);
  temb.emplace_back<SiLU>();
  temb.emplace_back<Linear>(LinearOptions{tdim, tdim}, gen);

  int64_t c = cfg.base_channels;
  std::vector<int64_t> skips;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < cfg.blocks_per_level; ++j) {
      down_.emplace_back(c, width(cfg, i), tdim, g, gen);
      c = width(cfg, i);
    }
    skips.push_back(c);
    if (i < n - 1) downsample_.emplace_back(Conv2dOptions{c, c, 3, 2, 1}, gen);
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    for (int64_t j = 0; j < cfg.blocks_per_level; ++j) {
      up_.emplace_back(j == 0 ? c + skips[static_cast<size_t>(i)] : width(cfg, i), width(cfg, i), tdim, g, gen);
      c = width(cfg, i);
    }
    const int64_t resolution = cfg.image_size >> i;
    const auto& ar = cfg.attention_resolutions;
    if (std::find(ar.begin(), ar.end(), resolution) != ar.end())
      up_attn_.insert(std::to_string(i), std::make_unique<AttnBlock>(c, cfg.text_width, cfg.attention_heads, g, gen));
    if (i > 0) upconv_.emplace_back(Conv2dOptions{c, c, 3, 1, 1}, gen);
  }
  // Registration order = PyTorch's attribute order in the peer model.
  register_module("temb", temb);
  register_module("inp", inp);
  register_module("down", down_);
  register_module("downsample", downsample_);
  register_module("mid1", mid1);
  register_module("mid_attn", mid_attn);
  register_module("mid2", mid2);
  register_module("up", up_);
  register_module("upconv", upconv_);
  register_module("up_attn", up_attn_);
  register_module("out_norm", out_norm);
  register_module("out", out);
}

Variable UNet::forward(const Variable& x, const Tensor& t, const Variable& ctx, const Tensor& mask) const {
  const ModelConfig& cfg = config_;
  TD_CHECK(
      x.dim() == 4 && x.size(1) == cfg.image_channels && x.size(2) == cfg.image_size && x.size(3) == cfg.image_size,
      "UNet",
      fmt::format("expected x of shape (B, {}, {}, {}), got {}", cfg.image_channels, cfg.image_size, cfg.image_size,
                  shape_str(x.shape())));
  TD_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "UNet",
           fmt::format("expected one timestep per image, t: ({},), got {}", x.size(0), shape_str(t.shape())));
  TD_CHECK(ctx.dim() == 3 && ctx.size(0) == x.size(0) && ctx.size(2) == cfg.text_width, "UNet",
           fmt::format("expected ctx of shape ({}, L, {}), got {}", x.size(0), cfg.text_width, shape_str(ctx.shape())));
  const int64_t n = cfg.levels(), blocks = cfg.blocks_per_level;

  Variable emb = temb.forward(Variable(timestep_embedding(t, cfg.base_channels, x.dtype())));  // emb: (B, 4 base)
  Variable h = inp.forward(x);                                                                 // h: (B, base, H, W)
  std::vector<Variable> skips;
  for (int64_t level = 0; level < n; ++level) {
    for (int64_t j = 0; j < blocks; ++j) h = down_block(level, j).forward(h, emb);
    skips.push_back(h);  // h: (B, width_level, H / 2^level, W / 2^level)
    if (level < n - 1) h = downsample_conv(level).forward(h);
  }
  h = mid2.forward(mid_attn.forward(mid1.forward(h, emb), ctx, mask), emb);
  for (int64_t level = n - 1; level >= 0; --level) {
    for (int64_t j = 0; j < blocks; ++j) {
      Variable in = j == 0 ? concat({h, skips[static_cast<size_t>(level)]}, 1) : h;  // in: (B, c + skip, ., .)
      h = up_block(level, j).forward(in, emb);
    }
    if (const AttnBlock* attn = up_attention(level)) h = attn->forward(h, ctx, mask);
    if (level > 0) h = upsample_conv(level).forward(upsample_nearest2d(h, 2));  // h: (B, c, 2x, 2x)
  }
  return out.forward(out_norm.forward_silu(h));  // (B, C, H, W)
}

// Blocks by level. The lists hold them in the order forward() runs them (the peer's names).

void UNet::check_level(const char* op, int64_t level) const {
  TD_CHECK(level >= 0 && level < config_.levels(), op,
           fmt::format("level {} is out of range; the U-Net has levels 0..{}", level, config_.levels() - 1));
}

void UNet::check_block(const char* op, int64_t level, int64_t j) const {
  check_level(op, level);
  TD_CHECK(j >= 0 && j < config_.blocks_per_level, op,
           fmt::format("block {} is out of range; a level has blocks 0..{}", j, config_.blocks_per_level - 1));
}

const ResBlock& UNet::down_block(int64_t level, int64_t j) const {
  check_block("UNet::down_block", level, j);
  return down_[static_cast<size_t>(level * config_.blocks_per_level + j)];
}

const Conv2d& UNet::downsample_conv(int64_t level) const {
  check_level("UNet::downsample_conv", level);
  TD_CHECK(level < config_.levels() - 1, "UNet::downsample_conv",
           fmt::format("the deepest level {} has no downsampling conv", level));
  return downsample_[static_cast<size_t>(level)];
}

const ResBlock& UNet::up_block(int64_t level, int64_t j) const {
  check_block("UNet::up_block", level, j);
  return up_[static_cast<size_t>((config_.levels() - 1 - level) * config_.blocks_per_level + j)];
}

const AttnBlock* UNet::up_attention(int64_t level) const {
  check_level("UNet::up_attention", level);
  return up_attn_.find(std::to_string(level));
}

AttnBlock* UNet::up_attention(int64_t level) {
  check_level("UNet::up_attention", level);
  return up_attn_.find(std::to_string(level));
}

const Conv2d& UNet::upsample_conv(int64_t level) const {
  check_level("UNet::upsample_conv", level);
  TD_CHECK(level > 0, "UNet::upsample_conv", "level 0 has no upsampling conv: it is the full resolution");
  return upconv_[static_cast<size_t>(config_.levels() - 1 - level)];
}

}  // namespace tinydiff
