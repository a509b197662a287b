// Tutorial 6: the text encoder — tokenization, embeddings, and self-attention weights drawn as heat
// maps, before and after a short training on Shapes captions. See lesson.md.
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/shapes.h"
#include "diffusion/models/model_config.h"
#include "diffusion/models/text_encoder.h"
#include "diffusion/models/tokenizer.h"
#include "nn/optim.h"
#include "tensor/program.h"
#include "tutorials/common/args.h"
#include "tutorials/common/plot.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

// Captions with their attributes, drawn like the Shapes data set's (held-out pairs excluded when
// `training`; the caption template chosen at random).
struct Captions {
  std::vector<std::string> text;
  std::vector<ShapeAttributes> attributes;
};

Captions sample_captions(Generator& gen, int64_t n, bool held_out_only = false) {
  std::vector<ShapeAttributes> pool;
  for (const ShapeAttributes& a : all_shape_attributes())
    if (is_held_out(a.shape, a.colour) == held_out_only) pool.push_back(a);
  Captions c;
  for (int64_t i = 0; i < n; ++i) {
    const ShapeAttributes& a = pool[static_cast<size_t>(gen.randint_scalar(0, static_cast<int64_t>(pool.size())))];
    c.text.push_back(shapes_caption(a, static_cast<int>(gen.randint_scalar(0, shapes_caption_templates()))));
    c.attributes.push_back(a);
  }
  return c;
}

//! [attention_weights]
// The attention probabilities of a MultiHeadAttention layer, recomputed from its weights:
// softmax(Q K^T / sqrt(D)) per head, padded keys excluded. x: (B, L, E) is the layer's input
// (after the LayerNorm in front of it); mask: (B, L), 1 = token. Returns (B, H, L, L).
Tensor attention_weights(const MultiHeadAttention& attn, const Tensor& x, const Tensor& mask) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2), H = attn.options().num_heads, D = E / H;
  const Tensor qkv = linear(x, attn.in_proj_weight.value(), attn.in_proj_bias.value());  // (B, L, 3E)
  const std::vector<Tensor> parts = split(qkv, {E, E, E}, 2);                            // Q, K, V: (B, L, E)
  const auto heads = [&](const Tensor& t) { return t.reshape({B, L, H, D}).permute({0, 2, 1, 3}); };  // (B, H, L, D)
  Tensor scores = matmul(heads(parts[0]), heads(parts[1]).transpose(-2, -1)) / std::sqrt(static_cast<double>(D));
  scores = scores + (mask.reshape({B, 1, 1, L}) - 1.0) * 1e9;  // padded keys: -1e9, probability 0
  return softmax(scores, -1);                                  // (B, H, L, L), rows sum to 1
}
//! [attention_weights]

// The same layer's output computed from those weights: P V per head, heads merged, out_proj.
Tensor attention_output(const MultiHeadAttention& attn, const Tensor& x, const Tensor& p) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2), H = attn.options().num_heads, D = E / H;
  const Tensor v = linear(x, attn.in_proj_weight.value(), attn.in_proj_bias.value()).slice(2, 2 * E, 3 * E);
  const Tensor o = matmul(p, v.reshape({B, L, H, D}).permute({0, 2, 1, 3}));  // (B, H, L, D)
  return linear(o.permute({0, 2, 1, 3}).reshape({B, L, E}), attn.out_proj.weight.value(), attn.out_proj.bias.value());
}

// The inputs of every layer's self-attention (after norm1) for a batch: one (B, L, d) per layer.
std::vector<Tensor> attention_inputs(const TextEncoder& te, const Tokenizer::Batch& batch) {
  std::vector<Tensor> inputs;
  Variable h = te.tok.forward(batch.ids) + te.pos;  // (B, L, d): token + position embeddings
  for (const auto& layer : te.enc.layers) {
    inputs.push_back(layer->norm1.forward(h).value());
    h = layer->forward(h, batch.mask);
  }
  return inputs;
}

// Heat maps of every layer and head for the first caption of `batch` (its real tokens only).
Figure attention_figure(const TextEncoder& te, const Tokenizer& tok, const Tokenizer::Batch& batch,
                        const std::string& title) {
  std::vector<std::string> labels;
  const std::vector<double> ids = batch.ids.slice(0, 0, 1).flatten().to_vector();
  for (double id : ids)
    if (static_cast<int64_t>(id) != Tokenizer::kPad) labels.push_back(tok.vocab()[static_cast<size_t>(id)]);
  const int64_t n = static_cast<int64_t>(labels.size());
  Figure fig{.columns = static_cast<int>(te.enc.layers[0].self_attn.options().num_heads),
             .width = 1500,
             .height = 820,
             .title = title};
  const std::vector<Tensor> inputs = attention_inputs(te, batch);
  for (size_t l = 0; l < inputs.size(); ++l) {
    const Tensor p = attention_weights(te.enc.layers[l].self_attn, inputs[l], batch.mask);  // (B, H, L, L)
    for (int64_t h = 0; h < p.size(1); ++h) {
      HeatMap map{.row_labels = labels, .column_labels = labels, .range = {{0.0, 1.0}}};
      for (int64_t q = 0; q < n; ++q) {
        std::vector<double> row;
        for (int64_t k = 0; k < n; ++k) row.push_back(p.at({0, h, q, k}));
        map.values.push_back(row);
      }
      fig.panels.push_back(Chart{.title = fmt::format("layer {}, head {}", l, h),
                                 .xlabel = "key (attended to)",
                                 .ylabel = h == 0 ? "query" : "",
                                 .heatmap = map,
                                 .key = "off"});
    }
  }
  return fig;
}

// Top principal directions of the rows of x (n, d) by power iteration on X^T X (x centred).
Tensor principal_components(const Tensor& x, int64_t k) {
  const Tensor centred = x - mean(x, {0}, true);
  Tensor cov = matmul(centred.transpose(0, 1), centred) / static_cast<double>(x.size(0));  // (d, d)
  Generator gen(5);
  std::vector<Tensor> dirs;
  for (int64_t c = 0; c < k; ++c) {
    Tensor v = gen.normal({x.size(1), 1});
    for (int it = 0; it < 200; ++it) {
      v = matmul(cov, v);
      v = v / std::sqrt(sum(square(v)).item());
    }
    const double lambda = sum(v * matmul(cov, v)).item();
    cov = cov - matmul(v, v.transpose(0, 1)) * lambda;  // deflate
    dirs.push_back(v);
  }
  return matmul(centred, concat(dirs, 1));  // (n, k) coordinates
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args =
      parse_tutorial_args(argc, argv, "06_text_encoder", "tokenization, embeddings and self-attention");

  heading("1. Tokenization");
  std::vector<std::string> corpus;
  for (const ShapeAttributes& a : all_shape_attributes())
    for (int which = 0; which < shapes_caption_templates(); ++which) corpus.push_back(shapes_caption(a, which));
  //! [tokenizer]
  Tokenizer tok = Tokenizer::build(corpus);  // vocabulary: <pad> <unk> <bos>, then words by frequency
  const std::string prompt = "a large red circle at the top left";
  Tokenizer::Encoded e = tok.encode(prompt);  // 16 ids: <bos>, the words, then <pad>
  //! [tokenizer]
  fmt::print("{} captions -> vocabulary of {} entries: ", corpus.size(), tok.vocab_size());
  for (const std::string& w : tok.vocab()) fmt::print("{} ", w);
  fmt::print("\nsplit_words(\"{}\") = ", prompt);
  for (const std::string& w : Tokenizer::split_words(prompt)) fmt::print("[{}] ", w);
  fmt::print("\nids: ");
  for (int64_t id : e.ids) fmt::print("{} ", id);
  const Tokenizer::Encoded odd = tok.encode("A purple hexagon, top LEFT");
  fmt::print("\n\"A purple hexagon, top LEFT\" -> ");
  for (int64_t id : odd.ids) fmt::print("{} ", id);
  fmt::print("(unknown: ");
  for (const std::string& w : odd.unknown) fmt::print("{} ", w);
  fmt::print(") -> decode: \"{}\"\n", tok.decode(odd.ids));

  heading("2. Embeddings and the encoder");
  ModelConfig cfg = model_config("tiny", 3);
  Generator gen(2024);
  TextEncoder te(cfg, gen);
  //! [encode]
  Tokenizer::Batch batch = tok.encode_batch({prompt, "blue square, small, in the center"});
  // batch.ids: (2, 16) int64; batch.mask: (2, 16), 1 for real tokens, 0 for <pad>
  Variable h0 = te.tok.forward(batch.ids) + te.pos;  // (2, 16, 128): token embedding + position embedding
  Variable ctx = te.forward(batch.ids, batch.mask);  // (2, 16, 128): one vector per token
  //! [encode]
  fmt::print("ids {} -> embeddings {} -> encoder output {}\n", shape_str(batch.ids.shape()), shape_str(h0.shape()),
             shape_str(ctx.shape()));
  fmt::print("TextEncoder (width {}, {} layers, {} heads): {} parameters\n", cfg.text_width, cfg.text_layers,
             cfg.text_heads, te.parameter_count());
  for (const auto& [name, p] : te.named_parameters())
    if (name.rfind("enc.layers.1", 0) != 0) fmt::print("  {:<36} {}\n", name, shape_str(p.shape()));
  fmt::print("  (enc.layers.1.* as enc.layers.0.*)\n");

  heading("3. Self-attention weights");
  {
    NoGradGuard no_grad;
    const std::vector<Tensor> inputs = attention_inputs(te, batch);
    const MultiHeadAttention& attn = te.enc.layers[0].self_attn;
    const Tensor p = attention_weights(attn, inputs[0], batch.mask);
    const Tensor mine = attention_output(attn, inputs[0], p);
    const Tensor theirs = attn.forward(Variable(inputs[0]), batch.mask).value();
    // Compare real tokens only (padded queries' outputs are never used).
    const Tensor keep = batch.mask.unsqueeze(-1);
    fmt::print("weights {}; rows sum to {:.6f}; output from them vs MultiHeadAttention::forward: max |diff| {:.1e}\n",
               shape_str(p.shape()), sum(p.slice(0, 0, 1).slice(1, 0, 1).slice(2, 0, 1)).item(),
               max_abs_diff(mine * keep, theirs * keep));
  }
  const Tokenizer::Batch one = tok.encode_batch({prompt});
  {
    NoGradGuard no_grad;
    save_figure(args.out, "t06_attention_untrained",
                attention_figure(te, tok, one, fmt::format("untrained encoder: \"{}\"", prompt)));
  }

  heading("4. Training the encoder to read captions");
  // A task that needs attention: from the output at <bos> alone, name the caption's shape,
  // colour, size and position. <bos> must gather those words from the rest of the caption.
  const std::vector<int64_t> classes = {3, 7, 2, 9};  // shape, colour, size, position
  ModuleList<Linear> heads;
  for (int64_t c : classes) heads.emplace_back(LinearOptions{cfg.text_width, c}, gen);
  std::vector<std::pair<std::string, Variable>> params = te.named_parameters();
  for (const auto& [name, p] : heads.named_parameters()) params.emplace_back("heads." + name, p);
  const auto targets = [](const Captions& c, int which) {
    std::vector<int64_t> v;
    for (const ShapeAttributes& a : c.attributes)
      v.push_back(which == 0 ? a.shape : which == 1 ? a.colour : which == 2 ? a.size : a.position);
    return Tensor::from_indices(v, {static_cast<int64_t>(v.size())});
  };
  //! [train]
  const auto logits = [&](const Tokenizer::Batch& b, size_t which) {
    const Variable out = te.forward(b.ids, b.mask);                                         // (B, L, d)
    const Variable at_bos = reshape(slice(out, 1, 0, 1), {b.ids.size(0), cfg.text_width});  // (B, d)
    return heads[which].forward(at_bos);                                                    // (B, classes[which])
  };
  EnableGradGuard enable_grad;  // record the graph even if a caller opened a NoGradGuard
  AdamW opt(params, {.lr = 1e-3, .weight_decay = 0.0});
  const int64_t steps = args.quick ? 20 : 250;
  std::vector<double> losses;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    const Captions c = sample_captions(gen, 32);
    const Tokenizer::Batch b = tok.encode_batch(c.text);
    Variable loss;
    for (size_t k = 0; k < classes.size(); ++k) {
      const Variable l = cross_entropy(logits(b, k), targets(c, static_cast<int>(k)));
      loss = loss.defined() ? loss + l : l;
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  //! [train]
  std::vector<double> step_axis;
  for (size_t i = 0; i < losses.size(); ++i) step_axis.push_back(static_cast<double>(i + 1));
  fmt::print("{} steps ({:.1f} s): loss {:.3f} -> {:.3f}\n", steps,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), losses.front(),
             losses.back());
  save_figure(args.out, "t06_loss",
              Figure{.panels = {Chart{.title = "sum of four cross-entropies (shape, colour, size, position)",
                                      .xlabel = "AdamW step (32 captions each)",
                                      .ylabel = "loss",
                                      .series = {Series{.x = step_axis, .y = losses, .color = "#08519c"}},
                                      .logy = true,
                                      .key = "off"}}});
  NoGradGuard no_grad;
  const std::array<std::string, 4> names = {"shape", "colour", "size", "position"};
  for (bool held_out : {false, true}) {
    Generator eval_gen(held_out ? 8 : 9);
    const Captions c = sample_captions(eval_gen, 500, held_out);
    const Tokenizer::Batch b = tok.encode_batch(c.text);
    fmt::print("{:<28}", held_out ? "held-out pairs (never seen):" : "captions like the training:");
    for (size_t k = 0; k < classes.size(); ++k) {
      const Tensor pred = argmax(logits(b, k).value(), 1);
      const double acc = mean(eq(pred.to(DType::F32), targets(c, static_cast<int>(k)).to(DType::F32))).item();
      fmt::print(" {} {:.1f}%", names[k], 100.0 * acc);
    }
    fmt::print("\n");
  }
  save_figure(args.out, "t06_attention_trained",
              attention_figure(te, tok, one, fmt::format("after {} training steps: \"{}\"", steps, prompt)));

  heading("5. What the encoder's output separates");
  // The <bos> output of 700 captions, projected on its two principal directions.
  Generator pca_gen(10);
  const Captions c = sample_captions(pca_gen, 700);
  const Tokenizer::Batch b = tok.encode_batch(c.text);
  const Tensor at_bos = te.forward(b.ids, b.mask).value().slice(1, 0, 1).reshape({700, cfg.text_width});
  const Tensor xy = principal_components(at_bos, 2);  // (700, 2)
  const std::array<std::string, 7> rgb = {"#e41a1c", "#4daf4a", "#377eb8", "#e6c300", "#e7298a", "#17becf", "#999999"};
  Chart by_colour{
      .title = "coloured by the caption's colour", .xlabel = "PC 1", .ylabel = "PC 2", .key = "outside right"};
  Chart by_shape{.title = "marked by the caption's shape", .xlabel = "PC 1", .ylabel = "PC 2", .key = "outside right"};
  for (int colour = 0; colour < 7; ++colour) {
    Series s{.title = colour_names()[static_cast<size_t>(colour)],
             .with = "points pt 7 ps 0.5",
             .color = rgb[static_cast<size_t>(colour)]};
    for (size_t i = 0; i < c.attributes.size(); ++i)
      if (c.attributes[i].colour == colour)
        s.x.push_back(xy.at({static_cast<int64_t>(i), 0})), s.y.push_back(xy.at({static_cast<int64_t>(i), 1}));
    if (!s.x.empty()) by_colour.series.push_back(s);
  }
  const std::array<int, 3> marks = {6, 4, 8};  // open circle, open square, open triangle
  for (int shape = 0; shape < 3; ++shape) {
    Series s{.title = shape_names()[static_cast<size_t>(shape)],
             .with = fmt::format("points pt {} ps 0.6", marks[static_cast<size_t>(shape)])};
    for (size_t i = 0; i < c.attributes.size(); ++i)
      if (c.attributes[i].shape == shape)
        s.x.push_back(xy.at({static_cast<int64_t>(i), 0})), s.y.push_back(xy.at({static_cast<int64_t>(i), 1}));
    if (!s.x.empty()) by_shape.series.push_back(s);
  }
  Chart by_size{.title = "coloured by the caption's size", .xlabel = "PC 1", .ylabel = "PC 2", .key = "outside right"};
  for (int size = 0; size < 2; ++size) {
    Series s{.title = size_names()[static_cast<size_t>(size)],
             .with = "points pt 7 ps 0.5",
             .color = size ? "#08519c" : "#fd8d3c"};
    for (size_t i = 0; i < c.attributes.size(); ++i)
      if (c.attributes[i].size == size)
        s.x.push_back(xy.at({static_cast<int64_t>(i), 0})), s.y.push_back(xy.at({static_cast<int64_t>(i), 1}));
    by_size.series.push_back(s);
  }
  save_figure(args.out, "t06_embeddings",
              Figure{.panels = {by_colour, by_shape, by_size},
                     .columns = 3,
                     .width = 1500,
                     .height = 420,
                     .title = "encoder output at <bos> for 700 captions, first two principal components"});
  fmt::print("\nfigures: t06_attention_untrained.png t06_loss.png t06_attention_trained.png t06_embeddings.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_06_text_encoder", argc, argv, [&] { return tutorial_main(argc, argv); });
}
