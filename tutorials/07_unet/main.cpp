// Tutorial 7: the U-Net — the tensor shapes through the network, where time and text enter, and
// the parameters and FLOPs of each block. See lesson.md.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/fashion_mnist.h"
#include "diffusion/models/model_config.h"
#include "diffusion/models/text_to_image.h"
#include "diffusion/models/tokenizer.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/schedule.h"
#include "nn/timestep_embedding.h"
#include "tensor/program.h"
#include "tutorials/common/args.h"
#include "tutorials/common/plot.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

// Multiply-adds count 2 flops. Only the products are counted (convolutions, linear layers and
// the two matrix products of attention); norms, activations and additions are a few percent.
double conv_flops(const Conv2d& c, int64_t batch, int64_t h_out, int64_t w_out) {
  const Conv2dOptions& o = c.options();
  return 2.0 *
         static_cast<double>(batch * h_out * w_out * o.out_channels * o.in_channels * o.kernel_size * o.kernel_size);
}

double linear_flops(const Linear& l, int64_t rows) {
  return 2.0 * static_cast<double>(rows * l.options().in_features * l.options().out_features);
}

// A ResBlock at resolution h x w (its convolutions keep the resolution).
double resblock_flops(const ResBlock& r, int64_t batch, int64_t h, int64_t w) {
  return conv_flops(r.c1, batch, h, w) + linear_flops(r.t, batch) + conv_flops(r.c2, batch, h, w) +
         (r.skip ? conv_flops(*r.skip, batch, h, w) : 0.0);
}

// Attention of n queries over m keys of width kdim, embed width e: projections, Q K^T, P V, out_proj.
double attention_flops(int64_t batch, int64_t n, int64_t m, int64_t e, int64_t kdim) {
  const double b = static_cast<double>(batch);
  return b * (2.0 * n * e * e + 2.0 * 2.0 * m * kdim * e + 2.0 * n * m * e * 2.0 + 2.0 * n * e * e);
}

double attnblock_flops(const AttnBlock& a, int64_t batch, int64_t h, int64_t w, int64_t tokens) {
  const int64_t c = a.self_attn.options().embed_dim, kdim = a.cross.options().kdim;
  return attention_flops(batch, h * w, h * w, c, c) + attention_flops(batch, h * w, tokens, c, kdim);
}

// One row of the table: a block, its output shape, parameters, FLOPs and time.
struct Row {
  std::string name;
  std::string shape;
  Shape dims;
  int64_t params = 0;
  double flops = 0.0;
  double ms = 0.0;
  std::string note;
};

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args = parse_tutorial_args(argc, argv, "07_unet", "shapes, time and text, parameters and FLOPs");
  const ModelConfig cfg = model_config("tiny", 1);
  Generator gen(0);
  TextToImageModel model(cfg, gen);
  const UNet& unet = model.unet;
  const TextEncoder& te = model.text_encoder;
  fmt::print("config \"{}\": {}x{}x{} images, base {} channels, multipliers ({}, {}, {}), attention at {}x{}\n",
             cfg.name, cfg.image_channels, cfg.image_size, cfg.image_size, cfg.base_channels, cfg.channel_mults[0],
             cfg.channel_mults[1], cfg.channel_mults[2], cfg.attention_resolutions[0], cfg.attention_resolutions[0]);
  fmt::print("parameters: text encoder {}, U-Net {}, total {}\n", te.parameter_count(), unet.parameter_count(),
             model.parameter_count());

  // Inputs: a Fashion-MNIST image noised to t = 300, and a caption.
  const int64_t B = args.quick ? 1 : 4;
  const NoiseSchedule schedule = make_schedule("linear");
  const Tensor x0 = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, B).images;  // (B, 1, 32, 32)
  const Tensor t = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), 299), {B});
  const Tensor x_t = q_sample(x0, t, gen.normal(x0.shape()), schedule);
  const Tokenizer tok = Tokenizer::build({"a photo of an ankle boot", "a photo of a t-shirt"});
  const Tokenizer::Batch text = tok.encode_batch(std::vector<std::string>(static_cast<size_t>(B), "an ankle boot"));
  NoGradGuard no_grad;

  heading("1. Through the network, block by block");
  std::vector<Row> rows;
  // Runs one block, timing it and recording its output shape, parameters and FLOPs (per image).
  const auto track = [&](const std::string& name, const Module& m, double flops, const std::string& note,
                         const std::function<Variable()>& run) {
    const auto start = std::chrono::steady_clock::now();
    Variable out = run();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    rows.push_back({name, shape_str(out.shape()), out.shape(), m.parameter_count(), flops / static_cast<double>(B),
                    ms / static_cast<double>(B), note});
    return out;
  };
  // The state-dict name of one of the U-Net's blocks ("down.0", "up_attn.2", ...).
  const auto name_of = [&](const Module& block) {
    for (const auto& [name, m] : unet.named_modules())
      if (m == &block) return name;
    return std::string("?");
  };
  const int64_t L = cfg.max_length, d = cfg.text_width, S = cfg.image_size, n = cfg.levels();
  const int64_t per = cfg.blocks_per_level;
  double te_flops = 0.0;
  for (const auto& layer : te.enc.layers)
    te_flops +=
        attention_flops(B, L, L, d, d) + linear_flops(layer->linear1, B * L) + linear_flops(layer->linear2, B * L);
  const double temb_flops = linear_flops(dynamic_cast<const Linear&>(unet.temb[0]), B) +
                            linear_flops(dynamic_cast<const Linear&>(unet.temb[2]), B);
  //! [walk]
  Variable ctx = track("text_encoder", te, te_flops, "tokens -> one vector per token",
                       [&] { return te.forward(text.ids, text.mask); });  // ctx: (B, 16, 128)
  Variable emb = track("temb", unet.temb, temb_flops, "sinusoidal(t) -> MLP", [&] {
    return unet.temb.forward(Variable(timestep_embedding(t, cfg.base_channels)));  // (B, 128)
  });
  Variable h = track("inp", unet.inp, conv_flops(unet.inp, B, S, S), "3x3 conv",
                     [&] { return unet.inp.forward(Variable(x_t)); });
  std::vector<Variable> skips;
  for (int64_t level = 0; level < n; ++level) {
    const int64_t r = S >> level;  // resolution of the level: 32, 16, 8
    for (int64_t j = 0; j < per; ++j) {
      const ResBlock& block = unet.down_block(level, j);
      h = track(name_of(block), block, resblock_flops(block, B, r, r), "ResBlock + time",
                [&] { return block.forward(h, emb); });
    }
    skips.push_back(h);  // kept for the up path
    if (level < n - 1) {
      const Conv2d& down = unet.downsample_conv(level);
      h = track(name_of(down), down, conv_flops(down, B, r / 2, r / 2), "stride-2 conv",
                [&] { return down.forward(h); });
    }
  }
  const int64_t r_mid = S >> (n - 1);
  h = track("mid1", unet.mid1, resblock_flops(unet.mid1, B, r_mid, r_mid), "ResBlock + time",
            [&] { return unet.mid1.forward(h, emb); });
  h = track("mid_attn", unet.mid_attn, attnblock_flops(unet.mid_attn, B, r_mid, r_mid, L), "self- + cross-attn (text)",
            [&] { return unet.mid_attn.forward(h, ctx, text.mask); });
  h = track("mid2", unet.mid2, resblock_flops(unet.mid2, B, r_mid, r_mid), "ResBlock + time",
            [&] { return unet.mid2.forward(h, emb); });
  for (int64_t level = n - 1; level >= 0; --level) {
    const int64_t r = S >> level;
    for (int64_t j = 0; j < per; ++j) {
      const ResBlock& block = unet.up_block(level, j);
      Variable in =
          j == 0 ? concat({h, skips[static_cast<size_t>(level)]}, 1) : h;  // skip connection: channels side by side
      h = track(name_of(block), block, resblock_flops(block, B, r, r), "ResBlock + time (with skip)",
                [&] { return block.forward(in, emb); });
    }
    if (const AttnBlock* attn = unet.up_attention(level))
      h = track(name_of(*attn), *attn, attnblock_flops(*attn, B, r, r, L), "self- + cross-attn (text)",
                [&] { return attn->forward(h, ctx, text.mask); });
    if (level > 0) {
      const Conv2d& conv = unet.upsample_conv(level);
      h = track(name_of(conv), conv, conv_flops(conv, B, 2 * r, 2 * r), "upsample x2 + 3x3 conv",
                [&] { return conv.forward(upsample_nearest2d(h, 2)); });
    }
  }
  const Variable eps = track("out", unet.out, conv_flops(unet.out, B, S, S), "GroupNorm, SiLU, 3x3 conv",
                             [&] { return unet.out.forward(silu(unet.out_norm.forward(h))); });  // (B, 1, 32, 32)
  //! [walk]
  rows.back().params += unet.out_norm.parameter_count();
  const Tensor reference = model.forward(Variable(x_t), t, text.ids, text.mask).value();
  fmt::print("walk by hand vs TextToImageModel::forward: max |difference| = {:.1e}\n\n",
             max_abs_diff(eps.value(), reference));

  fmt::print("{:<14} {:<18} {:>9} {:>9} {:>9}  {}\n", "block", "output shape", "params", "MFLOP", "ms/image", "what");
  int64_t total_params = 0;
  double total_flops = 0.0, total_ms = 0.0;
  for (const Row& r : rows) {
    fmt::print("{:<14} {:<18} {:>9} {:>9.2f} {:>9.2f}  {}\n", r.name, r.shape, r.params, r.flops * 1e-6, r.ms, r.note);
    total_params += r.params;
    total_flops += r.flops;
    total_ms += r.ms;
  }
  fmt::print("{:<14} {:<18} {:>9} {:>9.2f} {:>9.2f}\n", "total", "", total_params, total_flops * 1e-6, total_ms);
  fmt::print("(every parameter counted once: {})\n", total_params == model.parameter_count() ? "yes" : "NO");

  Chart params{.title = "parameters per block (thousands)",
               .ylabel = "",
               .key = "off",
               .extra = "set style fill solid 0.8\nset boxwidth 0.7\nset xtics rotate by 45 right"};
  Chart flops{.title = "MFLOP per block, one 32x32 image",
              .ylabel = "",
              .key = "off",
              .extra = "set style fill solid 0.8\nset boxwidth 0.7\nset xtics rotate by 45 right"};
  Series p{.with = "boxes", .color = "#4292c6"}, f{.with = "boxes", .color = "#ef6548"};
  for (size_t i = 0; i < rows.size(); ++i) {
    params.xtics.emplace_back(static_cast<double>(i), rows[i].name);
    flops.xtics.emplace_back(static_cast<double>(i), rows[i].name);
    p.x.push_back(static_cast<double>(i)), p.y.push_back(static_cast<double>(rows[i].params) * 1e-3);
    f.x.push_back(static_cast<double>(i)), f.y.push_back(rows[i].flops * 1e-6);
  }
  params.series.push_back(p);
  flops.series.push_back(f);
  params.xrange = flops.xrange = std::pair{-0.6, static_cast<double>(rows.size()) - 0.4};
  save_figure(args.out, "t07_blocks", Figure{.panels = {params, flops}, .columns = 2, .width = 1300, .height = 460});

  heading("2. Where time enters");
  //! [time]
  const Tensor steps = Tensor::arange(0, 1000).to(DType::I64);        // every timestep 0..999
  const Tensor table = timestep_embedding(steps, cfg.base_channels);  // (1000, 32): sin | cos
  const ResBlock& block = unet.down_block(0, 0);
  Variable shift = block.t.forward(silu(unet.temb.forward(Variable(table))));  // (1000, 32): one shift per channel
  //! [time]
  fmt::print(
      "timestep_embedding: {} -> temb MLP -> {} -> down.0's Linear t -> {} (added to every pixel of a channel)\n",
      shape_str(table.shape()), shape_str(unet.temb.forward(Variable(table)).shape()), shape_str(shift.shape()));
  HeatMap emb_map{.range = {{-1.0, 1.0}}, .palette = "defined (-1 \"#2166ac\", 0 \"#f7f7f7\", 1 \"#b2182b\")"};
  for (int64_t c = 0; c < table.size(1); ++c) {
    std::vector<double> row;
    for (int64_t s = 0; s < table.size(0); ++s) row.push_back(table.at({s, c}));
    emb_map.values.push_back(row);
  }
  Chart curves{.title = "four of the 32 features", .xlabel = "t (0-based)", .key = "outside right"};
  for (int64_t c : {4, 6, 8, 10}) {
    Series s{.title = fmt::format("sin(t ω_{{{}}})", c), .with = "lines lw 1.5"};
    for (int64_t x = 0; x < table.size(0); ++x) s.x.push_back(static_cast<double>(x)), s.y.push_back(table.at({x, c}));
    curves.series.push_back(s);
  }
  save_figure(
      args.out, "t07_time_embedding",
      Figure{.panels = {Chart{.title = "timestep\\_embedding(t, 32): features 0-15 sin(t ω_i), 16-31 cos(t ω_i)",
                              .xlabel = "t (0-based)",
                              .ylabel = "feature",
                              .heatmap = emb_map,
                              .extra = "set size noratio"},
                        curves},
             .columns = 2,
             .width = 1300,
             .height = 420});

  heading("3. Where text enters");
  {
    const MultiHeadAttention& cross = unet.mid_attn.cross;
    fmt::print("mid_attn.cross: queries from {} pixels of width {}, keys and values from {} tokens of width {}\n",
               r_mid * r_mid, cross.options().embed_dim, L, cross.options().kdim);
    fmt::print("  q_proj_weight {}, k_proj_weight {}, v_proj_weight {}: attention weights (B, {}, {}, {})\n",
               shape_str(cross.q_proj_weight.shape()), shape_str(cross.k_proj_weight.shape()),
               shape_str(cross.v_proj_weight.shape()), cross.options().num_heads, r_mid * r_mid, L);
  }

  heading("4. The U, drawn from the walk");
  // Each image-shaped block as a box: x = order of computation, y = resolution level, box height
  // proportional to the resolution and width to the channels; dashed arrows are skip connections.
  Series res{.title = "ResBlock (time enters)", .with = "boxxyerror fs solid 0.7", .color = "#4292c6"};
  Series att{.title = "attention (text enters)", .with = "boxxyerror fs solid 0.7", .color = "#fd8d3c"};
  Series cnv{.title = "convolution", .with = "boxxyerror fs solid 0.7", .color = "#969696"};
  Series skip_arrows{
      .title = "skip connection (concat)", .with = "vectors head filled size 0.15,20 lw 1.5 dt 2", .color = "#41ab5d"};
  Chart u{
      .title = fmt::format("the U-Net of config \"{}\": {} blocks between input and output", cfg.name, rows.size() - 2),
      .key = "outside bottom horizontal",
      .extra = fmt::format("set ytics (\"{0}x{0}\" 0, \"{1}x{1}\" -1, \"{2}x{2}\" -2)\nset xtics rotate by 45 "
                           "right\nset yrange [-2.7:0.9]",
                           S, S / 2, S / 4)};
  std::map<std::string, std::pair<double, double>> where;  // block name -> (x, y)
  double x = 0.0;
  for (const Row& r : rows) {
    if (r.dims.size() != 4) continue;  // text encoder and time MLP are not image-shaped
    const double level = std::log2(static_cast<double>(S) / static_cast<double>(r.dims[2]));
    const double y = -level, half_h = 0.42 * static_cast<double>(r.dims[2]) / S;
    const double half_w = 0.08 + 0.3 * static_cast<double>(r.dims[1]) / 64.0;
    Series& kind = r.name.find("attn") != std::string::npos                                                      ? att
                   : r.name.rfind("down.", 0) == 0 || r.name.rfind("up.", 0) == 0 || r.name.rfind("mid", 0) == 0 ? res
                                                                                                                 : cnv;
    kind.x.push_back(x), kind.y.push_back(y), kind.dx.push_back(half_w), kind.dy.push_back(half_h);
    u.xtics.emplace_back(x, fmt::format("{} ({} ch)", r.name, r.dims[1]));
    where[r.name] = {x, y};
    x += 1.0;
  }
  for (int64_t i = 0; i < n; ++i) {  // down.i's output joins up.(n-1-i)'s input
    const auto from = where.at(fmt::format("down.{}", (i + 1) * per - 1)),
               to = where.at(fmt::format("up.{}", (n - 1 - i) * per));
    const double above = 0.42 * std::exp2(from.second) + 0.08;  // just above the boxes of that level
    skip_arrows.x.push_back(from.first), skip_arrows.y.push_back(from.second + above);
    skip_arrows.dx.push_back(to.first - from.first), skip_arrows.dy.push_back(0.0);
  }
  u.series = {res, att, cnv, skip_arrows};
  u.xrange = std::pair{-0.7, x - 0.3};
  save_figure(args.out, "t07_ushape", Figure{.panels = {u}, .width = 1300, .height = 560});
  fmt::print("\nfigures: t07_blocks.png t07_time_embedding.png t07_ushape.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_07_unet", argc, argv, [&] { return tutorial_main(argc, argv); });
}
