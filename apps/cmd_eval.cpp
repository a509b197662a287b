// `tinydiff eval`: scores a checkpoint — prompt accuracy and Frechet distance (Fashion-MNIST) or
// attribute accuracy on seen and held-out pairs (Shapes) — over a sweep of guidance scales.
#include <fmt/format.h>
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "diffusion/evaluate.h"
#include "nn/atomic_file.h"

namespace tinydiff::cli {
namespace {

struct EvalArgs {
  std::string checkpoint, out, guidance = "3", classifier, data_dir = kFashionMnistDir;
  int64_t samples = 50, steps = 50, batch = 64, real_images = 2000, baseline_images = 500;
  uint64_t seed = 0;
  int threads = 0;
};

void check_args(const EvalArgs& a, EvalOptions& o) {
  const auto usage = [](const std::string& problem, const std::string& hint) {
    throw CliError(kExitUsage, problem, hint);
  };
  if (a.samples < 1)
    usage(fmt::format("--samples must be at least 1, got {}", a.samples), "the benchmark uses --samples 50");
  if (a.steps < 1)
    usage(fmt::format("--steps must be at least 1, got {}", a.steps), "DDIM works well with 25-100 steps");
  if (a.batch < 1) usage(fmt::format("--batch must be at least 1, got {}", a.batch), "the default is 64");
  if (a.threads < 0) usage(fmt::format("--threads must not be negative, got {}", a.threads), "0 uses every core");
  if (a.real_images < 2 || a.real_images > 10000)
    usage(fmt::format("--real-images must be 2..10000, got {}", a.real_images), "the default is 2000 test images");
  if (a.baseline_images < 0 || a.baseline_images == 1 || a.baseline_images > 60000)
    usage(fmt::format("--baseline-images must be 0 (none) or 2..60000, got {}", a.baseline_images),
          "the default is 500 training images");
  try {
    o.guidance = parse_guidance_list(a.guidance);
  } catch (const Error& e) {
    usage(e.what(), "give one scale or a comma-separated list, e.g. --guidance 3 or --guidance 0,1,3,5");
  }
  o.samples = a.samples;
  o.steps = a.steps;
  o.batch = a.batch;
  o.seed = a.seed;
  o.real_images = a.real_images;
  o.baseline_images = a.baseline_images;
  o.classifier_path = a.classifier;
  o.fashion_dir = a.data_dir;
}

// Creates the folder of `path` and checks that a file can be written there, before hours of sampling.
void check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw CliError(kExitBadFile, fmt::format("--out '{}' is a folder", path), "give a file name such as eval.json");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string probe = ((parent.empty() ? fs::path(".") : parent) / ".tinydiff-write-test").string();
  try {
    write_file_atomic(probe, "");
    fs::remove(probe, ec);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot write --out '{}': {}", path, e.what()),
                   "choose a folder you can write to");
  }
}

void run_eval(const EvalArgs& a) {
  EvalOptions o;
  check_args(a, o);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  namespace fs = std::filesystem;
  const std::string out = a.out.empty() ? (fs::path(a.checkpoint).parent_path() / "eval.json").string() : a.out;
  if (!fs::exists(a.checkpoint))
    throw CliError(kExitBadFile, fmt::format("the checkpoint '{}' does not exist", a.checkpoint),
                   "train one with 'tinydiff train --out DIR' and pass DIR/checkpoint.safetensors");
  TrainedModel m;
  try {
    m = load_trained_model(a.checkpoint, true);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot load the checkpoint: {}", e.what()),
                   "pass a checkpoint.safetensors written by 'tinydiff train'");
  }
  if (!has_evaluation(m.dataset))
    throw CliError(kExitBadFile,
                   fmt::format("the checkpoint was trained on the data set '{}', which has no evaluation", m.dataset),
                   "eval scores checkpoints trained with --dataset fashion or --dataset shapes");
  if (o.steps > m.schedule.num_timesteps)
    throw CliError(kExitUsage,
                   fmt::format("--steps {} is more than the model's {} timesteps", o.steps, m.schedule.num_timesteps),
                   fmt::format("use at most --steps {}", m.schedule.num_timesteps));
  check_writable(out);
  o.log = [](const std::string& line) {
    if (line.rfind("warning: ", 0) == 0) {
      print_warning(line.substr(9));
    } else {
      std::fputs(("tinydiff: " + line + "\n").c_str(), stdout);
      std::fflush(stdout);
    }
  };
  std::fputs(
      fmt::format("tinydiff: evaluating {} ({}, step {}): {} samples per {}, DDIM {} steps, guidance {}\n",
                  a.checkpoint, m.dataset, m.step, o.samples,
                  m.dataset == "fashion" ? "class prompt" : "(shape, colour) pair", o.steps, fmt::join(o.guidance, ","))
          .c_str(),
      stdout);
  EvalReport report;
  try {
    report = evaluate_model(m, a.checkpoint, o);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("evaluation failed: {}", e.what()),
                   "check the Fashion-MNIST files (--data-dir) and the classifier cache (--classifier)");
  }
  std::fputs(("\n" + eval_table(report)).c_str(), stdout);
  try {
    write_file_atomic(out, eval_json(report));
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot write the results: {}", e.what()),
                   "check free disk space and that --out is writable");
  }
  std::fputs(fmt::format("\ntinydiff: wrote {}\n", out).c_str(), stdout);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "eval", "Score a checkpoint: prompt accuracy and Frechet distance (fashion), attribute accuracy (shapes)");
  auto a = std::make_shared<EvalArgs>();
  sub->add_option("--checkpoint", a->checkpoint, "A checkpoint.safetensors written by 'tinydiff train'")->required();
  sub->add_option("--samples", a->samples, "Images per class prompt (fashion) or per (shape, colour) pair (shapes)")
      ->capture_default_str();
  sub->add_option("--steps", a->steps, "DDIM steps")->capture_default_str();
  sub->add_option("--guidance", a->guidance, "Guidance scale, or a comma-separated sweep such as 0,1,3,5")
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed of the starting noise (and of the Shapes prompts)")->capture_default_str();
  sub->add_option("--out", a->out, "JSON results file (default: eval.json beside the checkpoint)");
  sub->add_option("--batch", a->batch, "Images per network call")->capture_default_str();
  sub->add_option("--classifier", a->classifier,
                  "Fashion-MNIST classifier cache (default: ~/.cache/tinydiff/fashion_classifier.safetensors; "
                  "trained when missing)");
  sub->add_option("--real-images", a->real_images, "Real test images of the Frechet reference")->capture_default_str();
  sub->add_option("--baseline-images", a->baseline_images,
                  "Real training images of the real-vs-real baseline (0: none)")
      ->capture_default_str();
  sub->add_option("--data-dir", a->data_dir, "Folder of the Fashion-MNIST IDX files")->capture_default_str();
  sub->add_option("--threads", a->threads, "Threads (0: every core)")->capture_default_str();
  sub->callback([a] { run_eval(*a); });
}

}  // namespace tinydiff::cli
