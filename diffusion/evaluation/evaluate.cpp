#include "diffusion/evaluation/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "diffusion/data/captions.h"
#include "diffusion/evaluation/frechet.h"
#include "diffusion/models/generate.h"
#include "diffusion/sampling/karras_sigmas.h"
#include "tensor/tensor.h"

namespace tinydiff {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void say(const EvalOptions& options, const std::string& line) {
  if (options.log) options.log(line);
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Runs the sampler over chunks of `batch` prompts, logging progress; returns (N, C, S, S).
Tensor sample_all(const PromptSampler& sampler, const std::vector<std::string>& prompts, double guidance,
                  const Tensor& x_T, const EvalOptions& options) {
  const int64_t n = static_cast<int64_t>(prompts.size());
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < n; start += options.batch) {
    const int64_t end = std::min(n, start + options.batch);
    const std::vector<std::string> chunk(prompts.begin() + start, prompts.begin() + end);
    const Tensor x = x_T.slice(0, start, end).contiguous();  // (b, C, S, S)
    Tensor images = sampler(chunk, guidance, x, start / options.batch);
    TD_CHECK(images.defined() && images.shape() == x.shape(), "evaluate",
             fmt::format("the sampler returned {} for noise {}; expected the noise's shape",
                         images.defined() ? shape_str(images.shape()) : "(undefined)", shape_str(x.shape())));
    parts.push_back(images.to(DType::F32));
    say(options, fmt::format("  guidance {:g}: {}/{} images", guidance, end, n));
  }
  return parts.size() == 1 ? parts[0] : concat(parts, 0);  // (N, C, S, S)
}

// The Fashion-MNIST prompts and their labels: `samples` per class prompt, in label order.
struct FashionPrompts {
  std::vector<std::string> prompts;
  std::vector<int64_t> labels;
};
FashionPrompts fashion_prompts(int64_t samples) {
  FashionPrompts out;
  for (int64_t label = 0; label < FashionClassifier::kClasses; ++label)
    for (int64_t i = 0; i < samples; ++i) {
      out.prompts.push_back(fashion_class_prompt(label));
      out.labels.push_back(label);
    }
  return out;
}

// The Shapes prompts of an evaluation (seed + 1: the seed itself draws the noise x_T).
ShapesEvalPrompts shapes_prompts(const EvalOptions& options) {
  return shapes_eval_prompts(options.samples, options.seed + 1);
}

// "sampling 42 images at guidance 3: DDIM 50 steps"; `source` replaces the sampler's label when given.
std::string drawing_line(int64_t n, double w, const EvalOptions& options, const std::string& source) {
  return fmt::format("sampling {} images at guidance {:g}: {}", n, w,
                     source.empty() ? eval_sampler_label(options) : source);
}

}  // namespace

std::vector<double> parse_guidance_list(const std::string& text) {
  const char* op = "--guidance";
  const std::string hint = "expected comma-separated scales >= 0 such as 0,1,3,5";
  TD_CHECK(!trim(text).empty(), op, fmt::format("the list is empty; {}", hint));
  std::vector<double> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    TD_CHECK(!item.empty(), op, fmt::format("'{}' has an empty item; {}", text, hint));
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    TD_CHECK(end != nullptr && *end == '\0', op, fmt::format("'{}' in '{}' is not a number; {}", item, text, hint));
    TD_CHECK(std::isfinite(v), op, fmt::format("'{}' in '{}' is not a finite number; {}", item, text, hint));
    TD_CHECK(v >= 0, op, fmt::format("'{}' in '{}' is negative; {}", item, text, hint));
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void validate(const EvalOptions& o) {
  const char* op = "evaluate";
  TD_CHECK(o.samples >= 1, op, fmt::format("samples must be at least 1, got {}", o.samples));
  TD_CHECK(o.steps >= 1, op, fmt::format("steps must be at least 1, got {}", o.steps));
  TD_CHECK(o.batch >= 1, op, fmt::format("batch must be at least 1, got {}", o.batch));
  TD_CHECK(o.real_images >= 2 && o.real_images <= 10000, op,
           fmt::format("real_images must be 2..10000 (the test set), got {}", o.real_images));
  TD_CHECK(o.baseline_images >= 0 && o.baseline_images <= 60000 && o.baseline_images != 1, op,
           fmt::format("baseline_images must be 0 (none) or 2..60000, got {}", o.baseline_images));
  TD_CHECK(!o.guidance.empty(), op, "the guidance list is empty");
  for (double w : o.guidance)
    TD_CHECK(std::isfinite(w) && w >= 0, op, fmt::format("guidance scales must be finite and >= 0, got {}", w));
  TD_CHECK(o.eta >= 0 && o.eta <= 1, op, fmt::format("eta must be in [0, 1], got {}", o.eta));
  TD_CHECK(o.sampler == SamplerKind::Ddim || o.eta == 0, op,
           fmt::format("eta is a DDIM setting; {} has its own noise (or none), so leave eta at 0 (got {})",
                       sampler_name(o.sampler), o.eta));
}

std::string eval_sampler_label(const EvalOptions& o, int64_t num_timesteps) {
  switch (o.sampler) {
    case SamplerKind::Ddpm:
      return num_timesteps > 0 ? fmt::format("DDPM (all {} steps)", num_timesteps) : "DDPM (all T steps)";
    case SamplerKind::Ddim:
      return fmt::format("DDIM {} steps", o.steps) + (o.eta != 0 ? fmt::format(", eta {:g}", o.eta) : "");
    case SamplerKind::Euler:
    case SamplerKind::EulerAncestral:
    case SamplerKind::Heun:
    case SamplerKind::DpmSolver2M:
      break;
  }
  const char* name = o.sampler == SamplerKind::Euler            ? "Euler"
                     : o.sampler == SamplerKind::EulerAncestral ? "Euler ancestral"
                     : o.sampler == SamplerKind::Heun           ? "Heun"
                                                                : "DPM-Solver++(2M)";
  std::string label = fmt::format("{} {} steps", name, o.steps);
  if (o.sampler == SamplerKind::Heun) label += fmt::format(" ({} evaluations)", 2 * o.steps - 1);
  if (o.sigmas == SigmaSpacing::Uniform) label += ", uniform sigmas";
  return label;
}

std::vector<std::string> eval_prompts(const std::string& dataset, const EvalOptions& options) {
  TD_CHECK(has_evaluation(dataset), "eval_prompts",
           fmt::format("the data set '{}' has no evaluation; expected 'fashion' or 'shapes'", dataset));
  validate(options);
  if (dataset == "fashion") return fashion_prompts(options.samples).prompts;
  return shapes_prompts(options).prompts;
}

std::string eval_image_name(int64_t index) {
  TD_CHECK(index >= 0, "eval_image_name", fmt::format("the index must not be negative, got {}", index));
  return fmt::format("{:06d}.png", index);
}

ShapesEvalPrompts shapes_eval_prompts(int64_t per_pair, uint64_t seed) {
  TD_CHECK(per_pair >= 1, "shapes_eval_prompts", fmt::format("per_pair must be at least 1, got {}", per_pair));
  Generator gen(seed);
  ShapesEvalPrompts out;
  for (int shape = 0; shape < static_cast<int>(shape_names().size()); ++shape) {
    for (int colour = 0; colour < static_cast<int>(colour_names().size()); ++colour) {
      for (int64_t i = 0; i < per_pair; ++i) {
        ShapeAttributes a;
        a.shape = shape;
        a.colour = colour;
        a.size = static_cast<int>(gen.randint_scalar(0, static_cast<int64_t>(size_names().size())));
        a.position = static_cast<int>(gen.randint_scalar(0, static_cast<int64_t>(position_phrases().size())));
        out.prompts.push_back(shapes_caption(a));
        out.truth.push_back(a);
      }
    }
  }
  return out;
}

FashionEvalResult evaluate_fashion(const PromptSampler& sampler, const FashionClassifier& classifier,
                                   const Tensor& real_test, const Tensor& baseline, const EvalOptions& options,
                                   const std::string& source) {
  validate(options);
  const int64_t classes = FashionClassifier::kClasses;
  FashionEvalResult result;
  result.real_images = real_test.size(0);
  const GaussianFit real_fit = fit_gaussian(classifier.features(real_test));  // over (N, 128)
  if (baseline.defined() && baseline.size(0) >= 2) {
    result.baseline_images = baseline.size(0);
    result.baseline_frechet = frechet_distance(fit_gaussian(classifier.features(baseline)), real_fit);
  }
  const FashionPrompts set = fashion_prompts(options.samples);
  const std::vector<std::string>& prompts = set.prompts;
  const std::vector<int64_t>& labels = set.labels;
  const int64_t n = static_cast<int64_t>(prompts.size());
  Generator noise(options.seed);
  const Tensor x_T = noise.normal({n, 1, FashionClassifier::kImageSize, FashionClassifier::kImageSize});
  Generator noise_images(options.seed + 2);
  result.noise_frechet =
      frechet_distance(fit_gaussian(classifier.features(noise_images.uniform({n, 1, 32, 32}, -1.0, 1.0))), real_fit);
  for (double w : options.guidance) {
    const auto start = Clock::now();
    say(options, drawing_line(n, w, options, source));
    const Tensor images = sample_all(sampler, prompts, w, x_T, options);  // (N, 1, 32, 32)
    const Tensor pred = classifier.predict(images);                       // (N)
    const int64_t* p = pred.data<int64_t>();
    FashionEvalRow row;
    row.guidance = w;
    row.samples = n;
    row.class_accuracy.assign(static_cast<size_t>(classes), 0.0);
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      const bool ok = p[i] == labels[static_cast<size_t>(i)];
      correct += ok ? 1 : 0;
      if (ok) row.class_accuracy[static_cast<size_t>(labels[static_cast<size_t>(i)])] += 1.0;
    }
    for (double& a : row.class_accuracy) a /= static_cast<double>(options.samples);
    row.prompt_accuracy = static_cast<double>(correct) / static_cast<double>(n);
    row.frechet = n >= 2 ? frechet_distance(fit_gaussian(classifier.features(images)), real_fit) : 0.0;
    row.seconds = seconds_since(start);
    say(options, fmt::format("guidance {:g}: prompt accuracy {:.3f}, Frechet distance {:.2f} ({:.0f} s)", w,
                             row.prompt_accuracy, row.frechet, row.seconds));
    result.rows.push_back(std::move(row));
  }
  return result;
}

ShapesEvalResult evaluate_shapes(const PromptSampler& sampler, const EvalOptions& options, int64_t channels,
                                 int64_t size, const std::string& source) {
  validate(options);
  TD_CHECK(channels == 3 && size == kShapesImageSize, "evaluate_shapes",
           fmt::format("Shapes images are (3, {0}, {0}), the model makes ({1}, {2}, {2})", kShapesImageSize, channels,
                       size));
  const ShapesEvalPrompts set = shapes_prompts(options);
  std::vector<int64_t> seen_idx, held_idx;
  std::vector<ShapeAttributes> seen_truth, held_truth;
  for (size_t i = 0; i < set.truth.size(); ++i) {
    const ShapeAttributes& a = set.truth[i];
    if (is_held_out(a.shape, a.colour)) {
      held_idx.push_back(static_cast<int64_t>(i));
      held_truth.push_back(a);
    } else {
      seen_idx.push_back(static_cast<int64_t>(i));
      seen_truth.push_back(a);
    }
  }
  const int64_t n = static_cast<int64_t>(set.prompts.size());
  Generator noise(options.seed);
  const Tensor x_T = noise.normal({n, channels, size, size});
  const Tensor seen_index = Tensor::from_indices(seen_idx, {static_cast<int64_t>(seen_idx.size())});
  const Tensor held_index = Tensor::from_indices(held_idx, {static_cast<int64_t>(held_idx.size())});
  ShapesEvalResult result;
  for (double w : options.guidance) {
    const auto start = Clock::now();
    say(options, drawing_line(n, w, options, source));
    const Tensor images = sample_all(sampler, set.prompts, w, x_T, options);  // (N, 3, 32, 32)
    ShapesEvalRow row;
    row.guidance = w;
    row.seen = score_shapes(index_select(images, 0, seen_index), seen_truth);
    row.held_out = score_shapes(index_select(images, 0, held_index), held_truth);
    row.seconds = seconds_since(start);
    say(options,
        fmt::format("guidance {:g}: all four correct {:.3f} on seen pairs, {:.3f} on held-out pairs ({:.0f} s)", w,
                    row.seen.all, row.held_out.all, row.seconds));
    result.rows.push_back(row);
  }
  return result;
}

bool has_evaluation(const std::string& dataset) { return dataset == "fashion" || dataset == "shapes"; }

EvalReport evaluate_checkpoint(const std::string& path, const EvalOptions& options) {
  validate(options);
  const TrainedModel m = load_trained_model(path, true);
  return evaluate_model(m, path, options);
}

FashionEvalResult evaluate_fashion_standard(const PromptSampler& sampler, const EvalOptions& options,
                                            const std::string& source) {
  validate(options);
  const std::string classifier_path =
      options.classifier_path.empty() ? default_classifier_path() : options.classifier_path;
  Generator init(options.classifier_training.seed);
  FashionClassifier classifier(init);
  FashionClassifierTrainOptions train = options.classifier_training;
  train.data_dir = options.fashion_dir;
  const FashionClassifierReport clf = load_or_train_fashion_classifier(classifier_path, classifier, train, options.log);
  say(options, fmt::format("classifier: test accuracy {:.4f} ({})", clf.test_accuracy,
                           clf.loaded ? "loaded from " + classifier_path : "trained now"));
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test, options.fashion_dir, options.real_images);
  Tensor baseline;
  if (options.baseline_images > 0)
    baseline = load_fashion_mnist(FashionSplit::Train, options.fashion_dir, options.baseline_images).images;
  FashionEvalResult r = evaluate_fashion(sampler, classifier, test.images, baseline, options, source);
  r.classifier = clf;
  r.classifier_path = classifier_path;
  return r;
}

PromptSampler model_sampler(const TrainedModel& m, const EvalOptions& options) {
  validate(options);
  (void)eval_prompts(m.dataset, options);  // throws for a data set without an evaluation
  // Chunk c of every guidance scale (sample_all's chunks of options.batch) draws the sampler's own
  // noise from the stream of options.seed at block offset (c + 1) 2^40 (random.h): all rows of a
  // sweep see the same noise, as they start from the same x_T (offset 0 of the same seed), and
  // 2^40 blocks are far more than one chunk draws.
  GenerateOptions g;
  g.sampler = image_sampler_options(options.sampler, options.steps, options.eta, options.sigmas);
  if (options.on_step) set_step_callback(g.sampler, options.on_step);
  g.batch = options.batch;
  return [&m, g, seed = options.seed](const std::vector<std::string>& prompts, double w, const Tensor& x_T,
                                      int64_t chunk) {
    TD_CHECK(chunk >= 0, "evaluate", fmt::format("the chunk index must be >= 0, got {}", chunk));
    GenerateOptions o = g;
    o.guidance = w;
    Generator gen(seed);
    gen.set_state({seed, (static_cast<uint64_t>(chunk) + 1) << 40});
    return generate_images(*m.model, *m.tokenizer, m.schedule, prompts, x_T, gen, o);
  };
}

EvalReport evaluate_model(const TrainedModel& m, const std::string& path, const EvalOptions& options) {
  validate(options);
  TD_CHECK(has_evaluation(m.dataset), "evaluate",
           fmt::format("{}: the checkpoint's data set '{}' has no evaluation; eval knows 'fashion' and 'shapes'", path,
                       m.dataset));
  TD_CHECK(options.sampler == SamplerKind::Ddpm || options.steps <= m.schedule.num_timesteps, "evaluate",
           fmt::format("{} {} steps is more than the model's {} timesteps", options.steps,
                       options.sampler == SamplerKind::Ddim ? "DDIM" : sampler_name(options.sampler),
                       m.schedule.num_timesteps));
  EvalReport report;
  report.checkpoint = path;
  report.dataset = m.dataset;
  report.train_steps = m.step;
  report.num_timesteps = m.schedule.num_timesteps;
  report.options = options;
  const PromptSampler sampler = model_sampler(m, options);
  const std::string source = eval_sampler_label(options, m.schedule.num_timesteps);
  if (m.dataset == "shapes") {
    report.shapes = evaluate_shapes(sampler, options, m.config.image_channels, m.config.image_size, source);
    return report;
  }
  TD_CHECK(m.config.image_channels == 1 && m.config.image_size == FashionClassifier::kImageSize, "evaluate",
           fmt::format("{0}: a Fashion-MNIST model must make (1, 32, 32) images, this one makes ({1}, {2}, {2})", path,
                       m.config.image_channels, m.config.image_size));
  report.fashion = evaluate_fashion_standard(sampler, options, source);
  return report;
}

namespace {

std::string scores_cells(const ShapeScores& s) {
  return fmt::format("{:6.3f} {:6.3f} {:6.3f} {:8.3f} {:6.3f}", s.shape, s.colour, s.size, s.position, s.all);
}

nlohmann::json scores_json(const ShapeScores& s) {
  return {{"count", s.count}, {"shape", s.shape},       {"colour", s.colour},
          {"size", s.size},   {"position", s.position}, {"all_four", s.all}};
}

// How the images were made, for the settings line: the sampler, or "images made elsewhere".
std::string made_with(const EvalReport& r) {
  if (!r.images_dir.empty()) return "images made elsewhere";
  return eval_sampler_label(r.options, r.num_timesteps);
}

}  // namespace

std::string eval_table(const EvalReport& r) {
  const EvalOptions& o = r.options;
  std::string out = r.images_dir.empty()
                        ? fmt::format("checkpoint {} ({}, {} training steps)\n", r.checkpoint, r.dataset, r.train_steps)
                        : fmt::format("images     {} ({} images, {}, made at guidance {})\n", r.images_dir,
                                      r.image_count, r.dataset, fmt::join(o.guidance, ","));
  if (r.fashion) {
    const FashionEvalResult& f = *r.fashion;
    out += fmt::format("settings   {} samples per class prompt \"a photo of a {{class}}\", {}, seed {}\n", o.samples,
                       made_with(r), o.seed);
    out += fmt::format("classifier test accuracy {:.4f} on {} test images ({})\n", f.classifier.test_accuracy,
                       f.classifier.test_images, f.classifier_path);
    if (f.baseline_images > 0)
      out += fmt::format("baseline   Frechet distance {:.2f}: {} real training images vs {} real test images\n",
                         f.baseline_frechet, f.baseline_images, f.real_images);
    out += fmt::format("noise      Frechet distance {:.2f}: {} uniform noise images vs the {} real test images\n",
                       f.noise_frechet, f.rows.empty() ? 0 : f.rows[0].samples, f.real_images);
    out += fmt::format("\n{:>8}  {:>15}  {:>16}  {}\n", "guidance", "prompt accuracy", "Frechet distance",
                       "per class (label order)");
    for (const FashionEvalRow& row : f.rows) {
      std::string per_class;
      for (double a : row.class_accuracy) per_class += fmt::format(" {:.2f}", a);
      out +=
          fmt::format("{:>8g}  {:>15.3f}  {:>16.2f} {}\n", row.guidance, row.prompt_accuracy, row.frechet, per_class);
    }
  }
  if (r.shapes) {
    const ShapesEvalResult& s = *r.shapes;
    const int64_t seen = s.rows.empty() ? 0 : s.rows[0].seen.count;
    const int64_t held = s.rows.empty() ? 0 : s.rows[0].held_out.count;
    out += fmt::format("settings   {} samples per (shape, colour) pair, main caption template, {}, seed {}\n",
                       o.samples, made_with(r), o.seed);
    out += fmt::format("\n{:>8}  {:<42}  {}\n", "", fmt::format("seen pairs ({} samples)", seen),
                       fmt::format("held-out pairs ({} samples)", held));
    const std::string head = fmt::format("{:>6} {:>6} {:>6} {:>8} {:>6}", "shape", "colour", "size", "position", "all");
    out += fmt::format("{:>8}  {:<42}  {}\n", "guidance", head, head);
    for (const ShapesEvalRow& row : s.rows)
      out += fmt::format("{:>8g}  {:<42}  {}\n", row.guidance, scores_cells(row.seen), scores_cells(row.held_out));
  }
  return out;
}

std::string eval_json(const EvalReport& r) {
  const EvalOptions& o = r.options;
  nlohmann::json j;
  const bool folder = !r.images_dir.empty();
  if (folder) {
    j["images"] = r.images_dir;
    j["image_count"] = r.image_count;
    j["checkpoint"] = nullptr;
    j["train_steps"] = nullptr;
  } else {
    j["checkpoint"] = r.checkpoint;
    j["train_steps"] = r.train_steps;
  }
  j["dataset"] = r.dataset;
  j["settings"] = {{"samples", o.samples}, {"guidance", o.guidance}, {"seed", o.seed}, {"batch", o.batch}};
  if (folder) {  // the images were made elsewhere: how is not known here
    j["settings"]["sampler"] = nullptr;
    j["settings"]["eta"] = nullptr;
    j["settings"]["steps"] = nullptr;
    j["settings"]["sigmas"] = nullptr;
    j["settings"]["evaluations"] = nullptr;
  } else {
    const bool ddpm = o.sampler == SamplerKind::Ddpm, ode = !ddpm && o.sampler != SamplerKind::Ddim;
    j["settings"]["sampler"] = sampler_name(o.sampler);
    j["settings"]["eta"] = o.eta;
    j["settings"]["steps"] = ddpm && r.num_timesteps > 0 ? r.num_timesteps : o.steps;
    j["settings"]["sigmas"] = ode ? nlohmann::json(sigma_spacing_name(o.sigmas)) : nlohmann::json(nullptr);
    const int64_t nfe = ddpm ? r.num_timesteps : o.sampler == SamplerKind::Heun ? 2 * o.steps - 1 : o.steps;
    j["settings"]["evaluations"] = nfe > 0 ? nlohmann::json(nfe) : nlohmann::json(nullptr);  // per image
  }
  if (r.fashion) {
    const FashionEvalResult& f = *r.fashion;
    j["settings"]["samples_per"] = "class prompt";
    j["settings"]["real_images"] = f.real_images;
    j["settings"]["baseline_images"] = f.baseline_images;
    j["classifier"] = {{"path", f.classifier_path},
                       {"test_accuracy", f.classifier.test_accuracy},
                       {"test_images", f.classifier.test_images},
                       {"train_images", f.classifier.train_images},
                       {"epochs", f.classifier.epochs}};
    j["baseline_frechet"] = f.baseline_frechet;
    j["noise_frechet"] = f.noise_frechet;
    std::vector<std::string> prompts;
    for (int64_t label = 0; label < FashionClassifier::kClasses; ++label)
      prompts.push_back(fashion_class_prompt(label));
    j["prompts"] = prompts;
    j["results"] = nlohmann::json::array();
    for (const FashionEvalRow& row : f.rows)
      j["results"].push_back({{"guidance", row.guidance},
                              {"prompt_accuracy", row.prompt_accuracy},
                              {"class_accuracy", row.class_accuracy},
                              {"frechet", row.frechet},
                              {"samples", row.samples},
                              {"seconds", row.seconds}});
  }
  if (r.shapes) {
    j["settings"]["samples_per"] = "(shape, colour) pair";
    j["results"] = nlohmann::json::array();
    for (const ShapesEvalRow& row : r.shapes->rows)
      j["results"].push_back({{"guidance", row.guidance},
                              {"seen", scores_json(row.seen)},
                              {"held_out", scores_json(row.held_out)},
                              {"seconds", row.seconds}});
  }
  return j.dump(2) + "\n";
}

}  // namespace tinydiff
