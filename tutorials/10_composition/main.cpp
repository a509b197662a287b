// Tutorial 10: composition on Shapes — prompts with (shape, colour) pairs held out of training,
// the exact detector's verdict on their samples, and the U-Net's cross-attention maps, one per
// word of the prompt, read out with MultiHeadAttention::recorder. See lesson.md. --checkpoint
// FILE reuses a trained Shapes model.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/shapes.h"
#include "diffusion/evaluation/evaluate.h"
#include "diffusion/evaluation/shapes_detector.h"
#include "diffusion/models/generate.h"
#include "nn/attention.h"
#include "tensor/program.h"
#include "tutorials/common/args.h"
#include "tutorials/common/pictures.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/trained_model.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

std::string pair_name(int shape, int colour) {
  return colour_names()[static_cast<size_t>(colour)] + " " + shape_names()[static_cast<size_t>(shape)];
}

std::string percent(double fraction) { return fmt::format("{:.0f}%", 100.0 * fraction); }

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args =
      parse_tutorial_args(argc, argv, "10_composition", "unseen attribute pairs and cross-attention per word", true);
  const int64_t sampler_steps = args.quick ? 4 : 50;
  const double guidance = 3.0;

  heading("1. Shapes, and three pairs the model never sees");
  {
    Generator g(1);
    const int64_t n = args.quick ? 2000 : 20000;
    const ShapesBatch b = sample_shapes(g, n, /*training=*/true);  // what the Trainer draws from
    std::map<std::pair<int, int>, int64_t> pairs;
    std::vector<int64_t> per_shape(3, 0), per_colour(7, 0);
    for (const ShapeAttributes& a : b.attributes) {
      ++pairs[{a.shape, a.colour}];
      ++per_shape[static_cast<size_t>(a.shape)];
      ++per_colour[static_cast<size_t>(a.colour)];
    }
    fmt::print("{} training images, e.g. \"{}\", \"{}\", \"{}\"\n", n, b.captions[0], b.captions[1], b.captions[2]);
    for (const auto& [shape, colour] : std::vector<std::pair<int, int>>{{2, 1}, {0, 3}, {1, 4}})
      fmt::print(
          "  held out: {:<16} {:>5} times; {:<8} {:>5} times (with other shapes), {:<8} {:>5} times (in "
          "other colours)\n",
          pair_name(shape, colour), pairs[{shape, colour}], colour_names()[static_cast<size_t>(colour)],
          per_colour[static_cast<size_t>(colour)], shape_names()[static_cast<size_t>(shape)],
          per_shape[static_cast<size_t>(shape)]);
    int64_t seen = 0;
    for (int s = 0; s < 3; ++s)
      for (int c = 0; c < 7; ++c) seen += pairs[{s, c}] > 0 ? 1 : 0;
    fmt::print("{} of the 21 (shape, colour) pairs occur; every word occurs\n", seen);
  }

  heading("2. Training on Shapes");
  const TutorialModel m = train_or_load(args, tutorial_train_options("shapes", args.quick, args.path("run")));
  if (m.trained_now) fmt::print("trained {} steps in {:.0f} s\n", m.trained.step, m.train_seconds);
  if (!m.log_losses.empty()) {
    const size_t n = m.log_losses.size(), k = std::min<size_t>(n, 100);
    double last = 0.0;
    for (size_t i = n - k; i < n; ++i) last += m.log_losses[i] / static_cast<double>(k);
    fmt::print("loss: step 1 {:.4f}, mean of the last {} steps {:.4f}\n", m.log_losses[0], k, last);
  }
  TextToImageModel& model = *m.trained.model;
  const Tokenizer& tok = *m.trained.tokenizer;
  const NoiseSchedule& schedule = m.trained.schedule;
  NoGradGuard no_grad;
  GenerateOptions gen_opt;
  gen_opt.sampler = image_sampler_options(SamplerKind::Ddim, sampler_steps);
  gen_opt.guidance = guidance;
  const auto generate = [&](const std::vector<std::string>& prompts, const Tensor& x_T, const GenerateOptions& o) {
    Generator unused(0);  // DDIM with eta = 0 draws no noise
    return generate_images(model, tok, schedule, prompts, x_T, unused, o);
  };

  heading("3. Seen and unseen pairs");
  const int64_t K = args.quick ? 2 : 8;  // samples per prompt
  // Large, in the center: only shape and colour vary. Held-out pairs, then seen pairs of the same colours.
  const std::vector<std::pair<int, int>> rows = {{2, 1}, {0, 3}, {1, 4}, {0, 1}, {1, 3}, {2, 4}};
  std::vector<std::string> prompts, row_labels;
  std::vector<ShapeAttributes> truth;
  for (const auto& [shape, colour] : rows) {
    const ShapeAttributes a{.shape = shape, .colour = colour, .size = 1, .position = 4};
    row_labels.push_back(fmt::format("{}{}", pair_name(shape, colour), is_held_out(shape, colour) ? " (unseen)" : ""));
    for (int64_t k = 0; k < K; ++k) prompts.push_back(shapes_caption(a)), truth.push_back(a);
  }
  Generator noise(21);
  const Tensor x_T = noise.normal({static_cast<int64_t>(prompts.size()), 3, kShapesImageSize, kShapesImageSize});
  // Both attention blocks at 8x8 (the middle one and the last up level) record their
  // cross-attention while these images are sampled; section 4 looks at the weights.
  std::vector<MultiHeadAttention*> cross = {&model.unet.mid_attn.cross};
  for (int64_t level = model.config().levels() - 1; level >= 0; --level)  // in the up path's order
    if (AttnBlock* attn = model.unet.up_attention(level)) cross.push_back(&attn->cross);
  //! [record]
  AttentionRecorder rec;
  for (MultiHeadAttention* layer : cross) layer->recorder = &rec;  // record at every sampling step
  const Tensor images = generate(prompts, x_T, gen_opt);           // (N, 3, 32, 32), N = 6 K prompts
  for (MultiHeadAttention* layer : cross) layer->recorder = nullptr;
  // rec.weights: per step, one (2N, heads, 64, 16) per layer: rows 0..N-1 the empty prompt, N..2N-1 ours
  //! [record]
  fmt::print("{} DDIM steps, guidance {}, {} samples per prompt \"a large ... in the center\"\n", sampler_steps,
             guidance, K);
  fmt::print("{:<26} {:>6} {:>7} {:>6} {:>9} {:>5}\n", "pair", "shape", "colour", "size", "position", "all");
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t from = static_cast<int64_t>(r) * K;
    const ShapeScores s = score_shapes(images.slice(0, from, from + K),
                                       std::vector<ShapeAttributes>(truth.begin() + from, truth.begin() + from + K));
    fmt::print("{:<26} {:>6} {:>7} {:>6} {:>9} {:>5}\n", row_labels[r], percent(s.shape), percent(s.colour),
               percent(s.size), percent(s.position), percent(s.all));
  }
  {
    // The detector's view of each sample: what it found, for the lesson's discussion.
    std::map<std::string, int64_t> found;
    for (int64_t i = 0; i < 3 * K; ++i) {
      const DetectedShape d = detect_shape(images.slice(0, i, i + 1).squeeze(0));
      found[d.found ? pair_name(d.attributes.shape, d.attributes.colour) : std::string("nothing")]++;
    }
    fmt::print("what the detector sees in the {} samples of unseen pairs:", 3 * K);
    for (const auto& [name, count] : found) fmt::print(" {} x{};", name, count);
    fmt::print("\n");
  }
  Chart held = grid_chart(images.slice(0, 0, 3 * K), K, "held out of training", {},
                          std::vector<std::string>(row_labels.begin(), row_labels.begin() + 3));
  Chart seen = grid_chart(images.slice(0, 3 * K, 6 * K), K, "seen in training", {},
                          std::vector<std::string>(row_labels.begin() + 3, row_labels.end()));
  held.extra += "\nset lmargin 24\nset rmargin 2\nset tmargin 2\nset bmargin 1";  // the same size for both grids
  seen.extra += "\nset lmargin 24\nset rmargin 2\nset tmargin 2\nset bmargin 1";
  save_figure(args.out, "t10_samples",
              Figure{.panels = {held, seen}, .columns = 2, .width = 1300, .height = 300, .palette = true});

  // The library's evaluation: every (shape, colour) pair, random sizes and positions.
  EvalOptions eval;
  eval.samples = args.quick ? 1 : 8;
  eval.steps = sampler_steps;
  eval.guidance = {1.0, guidance};
  const PromptSampler sampler = [&](const std::vector<std::string>& p, double w, const Tensor& noise_in, int64_t) {
    GenerateOptions o = gen_opt;
    o.guidance = w;
    return generate(p, noise_in, o);
  };
  const ShapesEvalResult result = evaluate_shapes(sampler, eval);
  fmt::print("evaluate_shapes, {} samples per pair, random size and position (all four attributes right):\n",
             eval.samples);
  for (const ShapesEvalRow& row : result.rows)
    fmt::print(
        "  w = {}: seen pairs shape {} colour {} size {} position {} all {}; held-out pairs shape {} colour {} "
        "size {} position {} all {}\n",
        row.guidance, percent(row.seen.shape), percent(row.seen.colour), percent(row.seen.size),
        percent(row.seen.position), percent(row.seen.all), percent(row.held_out.shape), percent(row.held_out.colour),
        percent(row.held_out.size), percent(row.held_out.position), percent(row.held_out.all));

  heading("4. Cross-attention, word by word");
  const int64_t N = images.size(0), side = kShapesImageSize >> (m.trained.config.levels() - 1);  // 8x8 attention
  fmt::print("{} attention maps recorded ({} sampling steps x {} layers), each {}\n", rec.weights.size(), sampler_steps,
             cross.size(), shape_str(rec.weights.at(0).shape()));
  std::vector<Chart> panels;
  double top = 0.0;
  std::vector<std::vector<HeatMap>> maps;
  for (size_t r = 0; r < 3; ++r) {  // the three held-out pairs
    // The first of the row's K samples whose colour the detector reads as asked (else the first).
    int64_t pick = static_cast<int64_t>(r) * K;
    for (int64_t k = 0; k < K; ++k) {
      const DetectedShape d = detect_shape(images.slice(0, pick + k, pick + k + 1).squeeze(0));
      if (d.found && d.attributes.colour == truth[static_cast<size_t>(pick + k)].colour) {
        pick += k;
        break;
      }
    }
    const std::string& prompt = prompts[static_cast<size_t>(pick)];
    const Tensor image = images.slice(0, pick, pick + 1).squeeze(0);  // (3, 32, 32)
    //! [average]
    Tensor avg;  // (64 pixels, 16 tokens): the sample's own weights, averaged over heads, layers and steps
    for (const Tensor& p : rec.weights) {
      const Tensor ours = mean(p.slice(0, N + pick, N + pick + 1), {0, 1});  // its conditional row; mean over heads
      avg = avg.defined() ? avg + ours : ours;
    }
    avg = avg / static_cast<double>(rec.weights.size());
    //! [average]
    TD_CHECK(tok.encode(prompt).unknown.empty(), "tutorial 10", fmt::format("\"{}\" has unknown words", prompt));
    std::vector<std::string> words = {"<bos>"};
    for (const std::string& w : Tokenizer::split_words(prompt)) words.push_back(w);
    // Brightness of each 8x8 cell: the mean over its 4x4 pixels of the largest channel, in [0, 1].
    const Tensor bright = max((image + 1.0) / 2.0, {0});  // (32, 32)
    const int64_t cell = kShapesImageSize / side;
    std::vector<double> cell_bright;
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x) {
        double b = 0.0;
        for (int64_t dy = 0; dy < cell; ++dy)
          for (int64_t dx = 0; dx < cell; ++dx) b += bright.at({y * cell + dy, x * cell + dx}) / (cell * cell);
        cell_bright.push_back(b);
      }
    const auto correlation = [](const std::vector<double>& a, const std::vector<double>& b) {
      double ma = 0.0, mb = 0.0, sab = 0.0, saa = 0.0, sbb = 0.0;
      for (size_t i = 0; i < a.size(); ++i)
        ma += a[i] / static_cast<double>(a.size()), mb += b[i] / static_cast<double>(a.size());
      for (size_t i = 0; i < a.size(); ++i)
        sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
      return saa > 0.0 && sbb > 0.0 ? sab / std::sqrt(saa * sbb) : 0.0;
    };
    const DetectedShape d = detect_shape(image);
    fmt::print("\"{}\", sample {} of {}: the detector sees {}\n", prompt, pick - static_cast<int64_t>(r) * K + 1, K,
               d.found ? shapes_caption(d.attributes) : std::string("nothing"));
    fmt::print("  {:<10} {:>12} {:>26}\n", "token", "mean weight", "correlation with brightness");
    std::vector<HeatMap> row;
    for (size_t k = 0; k < words.size(); ++k) {
      HeatMap h;
      std::vector<double> cells;
      for (int64_t y = 0; y < side; ++y) {
        std::vector<double> line;
        for (int64_t x = 0; x < side; ++x) {
          const double v = avg.at({y * side + x, static_cast<int64_t>(k)});
          line.push_back(v);
          cells.push_back(v);
          top = std::max(top, v);
        }
        h.values.push_back(line);
      }
      double total = 0.0;
      for (double v : cells) total += v / static_cast<double>(cells.size());
      fmt::print("  {:<10} {:>12.3f} {:>26.2f}\n", words[k], total, correlation(cells, cell_bright));
      row.push_back(h);
    }
    maps.push_back(row);
    const size_t split = prompt.find(' ', prompt.find(' ', prompt.find(' ', prompt.find(' ') + 1) + 1) + 1);
    Chart pic{.title = prompt.substr(0, split), .xlabel = prompt.substr(split + 1), .key = "off"};  // 4 words, the rest
    pic.image = rgb_image(image);
    panels.push_back(pic);
    for (size_t k = 0; k < row.size(); ++k) panels.push_back(Chart{.title = words[k], .key = "off"});
  }
  // Fill in the heat maps with one colour range for all, so the maps compare.
  size_t next = 0;
  size_t columns = 0;
  for (size_t p = 0; p < maps.size(); ++p) {
    ++next;  // the picture
    columns = std::max(columns, maps[p].size() + 1);
    for (HeatMap& h : maps[p]) {
      h.range = std::pair{0.0, top};
      h.column_labels = h.row_labels =
          std::vector<std::string>(static_cast<size_t>(h.values.size()), "");  // no numbers
      panels[next].heatmap = h;
      panels[next].extra = "unset colorbox";
      ++next;
    }
  }
  save_figure(args.out, "t10_cross_attention",
              Figure{.panels = panels,
                     .columns = static_cast<int>(columns),
                     .width = 1700,
                     .height = 620,
                     .title = fmt::format("cross-attention of the 8x8 pixels to each token, averaged over heads, both "
                                          "attention blocks and {} sampling steps (white 0, dark red {:.2f})",
                                          sampler_steps, top)});
  fmt::print("\nfigures: t10_samples.png t10_cross_attention.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_10_composition", argc, argv, [&] { return tutorial_main(argc, argv); });
}
