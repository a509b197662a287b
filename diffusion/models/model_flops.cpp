// The FLOPs of a text-to-image model, counted from its config. See model_flops.h.
#include "diffusion/models/model_flops.h"

#include <algorithm>
#include <vector>

namespace tinydiff {

namespace {

// Products only; a multiply-add is 2 flops.
struct FlopCounter {
  double total = 0.0;
  // A k x k convolution to an out_hw x out_hw output.
  void conv(int64_t b, int64_t cin, int64_t cout, int64_t k, int64_t out_hw) {
    total += 2.0 * static_cast<double>(b * cout * cin * k * k) * static_cast<double>(out_hw * out_hw);
  }
  void linear(int64_t rows, int64_t in, int64_t out) { total += 2.0 * static_cast<double>(rows * in * out); }
  // Q K^T and P V of lq queries over lk keys of width `width`.
  void attention(int64_t b, int64_t lq, int64_t lk, int64_t width) {
    total += 2.0 * 2.0 * static_cast<double>(b * lq * lk * width);
  }
};

}  // namespace

double forward_flops(const ModelConfig& c, int64_t b, bool with_text_encoder) {
  FlopCounter f;
  const int64_t L = c.max_length, d = c.text_width, tdim = c.time_dim(), n = c.levels();
  if (with_text_encoder) {
    for (int64_t i = 0; i < c.text_layers; ++i) {
      f.linear(b * L, d, 3 * d);  // in_proj
      f.attention(b, L, L, d);
      f.linear(b * L, d, d);      // out_proj
      f.linear(b * L, d, 4 * d);  // linear1
      f.linear(b * L, 4 * d, d);  // linear2
    }
  }
  const auto width = [&](int64_t level) { return c.base_channels * c.channel_mults[static_cast<size_t>(level)]; };
  const auto resblock = [&](int64_t cin, int64_t cout, int64_t hw) {
    f.conv(b, cin, cout, 3, hw);
    f.linear(b, tdim, cout);  // the time embedding's shift
    f.conv(b, cout, cout, 3, hw);
    if (cin != cout) f.conv(b, cin, cout, 1, hw);  // 1x1 skip
  };
  const auto attnblock = [&](int64_t ch, int64_t hw) {
    const int64_t px = hw * hw;
    f.linear(b * px, ch, 3 * ch);  // self-attention in_proj
    f.attention(b, px, px, ch);
    f.linear(b * px, ch, ch);  // out_proj
    f.linear(b * px, ch, ch);  // cross-attention q
    f.linear(b * L, d, ch);    // k
    f.linear(b * L, d, ch);    // v
    f.attention(b, px, L, ch);
    f.linear(b * px, ch, ch);  // out_proj
  };
  f.linear(b, c.base_channels, tdim);  // time MLP
  f.linear(b, tdim, tdim);
  const int64_t s = c.image_size;
  f.conv(b, c.image_channels, c.base_channels, 3, s);  // inp
  int64_t ch = c.base_channels;
  std::vector<int64_t> skips;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < c.blocks_per_level; ++j) {
      resblock(ch, width(i), s >> i);
      ch = width(i);
    }
    skips.push_back(ch);
    if (i < n - 1) f.conv(b, ch, ch, 3, s >> (i + 1));  // stride-2 downsample
  }
  resblock(ch, ch, s >> (n - 1));  // mid1, mid_attn, mid2
  attnblock(ch, s >> (n - 1));
  resblock(ch, ch, s >> (n - 1));
  for (int64_t i = n - 1; i >= 0; --i) {
    for (int64_t j = 0; j < c.blocks_per_level; ++j) {
      resblock(j == 0 ? ch + skips[static_cast<size_t>(i)] : width(i), width(i), s >> i);
      ch = width(i);
    }
    const auto& ar = c.attention_resolutions;
    if (std::find(ar.begin(), ar.end(), s >> i) != ar.end()) attnblock(ch, s >> i);
    if (i > 0) f.conv(b, ch, ch, 3, s >> (i - 1));  // upsample x2 + conv
  }
  f.conv(b, ch, c.image_channels, 3, s);  // out
  return f.total;
}

double training_step_flops(const ModelConfig& config, int64_t batch) {
  return 3.0 * forward_flops(config, batch, true);
}

}  // namespace tinydiff
