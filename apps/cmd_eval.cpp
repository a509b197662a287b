// `tinydiff eval`: scores a checkpoint — prompt accuracy and Frechet distance (Fashion-MNIST) or
// attribute accuracy on seen and held-out pairs (Shapes) — over a sweep of guidance scales; or a
// folder of PNG images made by another program (--images DIR --dataset D) with the same judge;
// or prints the evaluation's prompt list (--print-prompts --dataset D) for such a program;
// or, with --nearest, the memorisation check of a checkpoint: samples of training captions beside
// their nearest training images (diffusion/evaluation/nearest.h), a grid PNG and a JSON file.
//
// Rules: exactly one of --checkpoint FILE or --images DIR (unless --print-prompts, which takes
// neither). --images needs --dataset and one --guidance value (the scale the images were made
// with) and refuses --steps, --sampler, --sigmas and --eta, which describe sampling a checkpoint. With
// --checkpoint, --dataset may be given but must name the checkpoint's data set.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "apps/load_checkpoint.h"
#include "apps/sampler_args.h"
#include "apps/step_progress.h"
#include "diffusion/data/image_io.h"
#include "diffusion/evaluation/evaluate.h"
#include "diffusion/evaluation/nearest.h"
#include "diffusion/sampling/karras_sigmas.h"
#include "diffusion/training/train_options.h"
#include "diffusion/training/trainer.h"
#include "nn/atomic_file.h"

namespace tinydiff::cli {
namespace {

struct EvalArgs {
  std::string checkpoint, images, dataset, out, guidance = "3", classifier, data_dir = kFashionMnistDir;
  std::string data;  // --nearest on a folder-trained model: the folder, if it moved (default: the stored one)
  SamplerArgs s;     // --sampler, --sigmas, --eta
  int64_t samples = 50, steps = 50, batch = 64, real_images = 2000, baseline_images = 500;
  uint64_t seed = 0;
  int threads = 0;
  bool print_prompts = false;
  bool nearest = false;          // --nearest: the memorisation check
  int64_t nearest_captions = 8;  // its rows
};

[[noreturn]] void usage(const std::string& problem, const std::string& hint) {
  throw CliError(kExitUsage, problem, hint);
}

void check_args(const EvalArgs& a, EvalOptions& o, const CLI::App& sub) {
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
  const SamplerChoice choice = parse_sampler_args(a.s, sub);
  o.sampler = choice.kind;
  o.sigmas = choice.sigmas;
  if (!a.dataset.empty() && !has_evaluation(a.dataset))
    usage(fmt::format("unknown --dataset '{}' for eval", a.dataset), "eval knows --dataset fashion and shapes");
  o.eta = a.s.eta;
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

// Progress lines on stdout ("tinydiff: ..."), warnings on stderr.
void log_line(const std::string& line) {
  if (line.rfind("warning: ", 0) == 0) {
    print_warning(line.substr(9));
  } else {
    std::fputs(("tinydiff: " + line + "\n").c_str(), stdout);
    std::fflush(stdout);
  }
}

// Prints the table and writes the JSON file.
void finish(const EvalReport& report, const std::string& out) {
  std::fputs(("\n" + eval_table(report)).c_str(), stdout);
  try {
    write_file_atomic(out, eval_json(report));
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot write the results: {}", e.what()),
                   "check free disk space and that --out is writable");
  }
  std::fputs(fmt::format("\ntinydiff: wrote {}\n", out).c_str(), stdout);
}

// The options that must agree with the checkpoint's model: --dataset (if given) and --steps.
void check_against_model(const EvalArgs& a, const EvalOptions& o, const TrainedModel& m) {
  if (!a.dataset.empty() && a.dataset != m.dataset)
    usage(fmt::format("--dataset {} contradicts the checkpoint, which was trained on '{}'", a.dataset, m.dataset),
          "leave out --dataset with --checkpoint (the checkpoint knows its data set)");
  if (o.sampler != SamplerKind::Ddpm && o.steps > m.schedule.num_timesteps)
    throw CliError(kExitUsage,
                   fmt::format("--steps {} is more than the model's {} timesteps", o.steps, m.schedule.num_timesteps),
                   fmt::format("use at most --steps {}", m.schedule.num_timesteps));
}

void run_checkpoint(const EvalArgs& a, EvalOptions& o, const CLI::App& sub) {
  namespace fs = std::filesystem;
  const std::string out = a.out.empty() ? (fs::path(a.checkpoint).parent_path() / "eval.json").string() : a.out;
  const TrainedModel m = load_checkpoint(a.checkpoint);
  if (!has_evaluation(m.dataset))
    throw CliError(kExitBadFile,
                   fmt::format("the checkpoint was trained on the data set '{}', which has no evaluation", m.dataset),
                   "eval scores checkpoints trained with --dataset fashion or --dataset shapes");
  check_against_model(a, o, m);
  if (o.sampler == SamplerKind::Ddpm && sub.count("--steps"))
    print_warning(fmt::format("--steps is ignored by ddpm, which takes all {} steps", m.schedule.num_timesteps));
  check_writable(out);
  // One bar over every sampler step of the run (stderr, on a terminal only): chunks of --batch prompts, for
  // every guidance scale.
  const int64_t prompts = static_cast<int64_t>(eval_prompts(m.dataset, o).size());
  const int64_t steps = o.sampler == SamplerKind::Ddpm ? m.schedule.num_timesteps : o.steps;
  StepProgress bar("sampling", (prompts + o.batch - 1) / o.batch * static_cast<int64_t>(o.guidance.size()) * steps);
  if (bar.enabled()) o.on_step = bar.callback();
  o.log = [&bar](const std::string& line) { bar.print_above([&] { log_line(line); }); };
  std::fputs(fmt::format("tinydiff: evaluating {} ({}, step {}): {} samples per {}, {}, guidance {}\n", a.checkpoint,
                         m.dataset, m.step, o.samples, m.dataset == "fashion" ? "class prompt" : "(shape, colour) pair",
                         eval_sampler_label(o, m.schedule.num_timesteps), fmt::join(o.guidance, ","))
                 .c_str(),
             stdout);
  EvalReport report;
  try {
    report = evaluate_model(m, a.checkpoint, o);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("evaluation failed: {}", e.what()),
                   "check the Fashion-MNIST files (--data-dir) and the classifier cache (--classifier)");
  }
  bar.finish();
  finish(report, out);
}

// --nearest: the memorisation check of a checkpoint on its own training set.
void run_nearest(const EvalArgs& a, EvalOptions& o) {
  namespace fs = std::filesystem;
  if (a.checkpoint.empty() || !a.images.empty())
    usage("--nearest needs --checkpoint FILE (and no --images)",
          "it compares a model's samples with its training images");
  if (a.nearest_captions < 1 || a.nearest_captions > 64)
    usage(fmt::format("--nearest-captions must be 1..64, got {}", a.nearest_captions), "the default is 8");
  if (o.guidance.size() != 1)
    usage(fmt::format("--nearest takes one --guidance value, got {}", a.guidance), "e.g. --guidance 3");
  const std::string out = a.out.empty() ? (fs::path(a.checkpoint).parent_path() / "nearest.json").string() : a.out;
  const std::string png = fs::path(out).replace_extension(".png").string();
  const TrainedModel m = load_checkpoint(a.checkpoint);
  check_against_model(a, o, m);
  std::unique_ptr<TrainingData> data;
  try {
    DataOptions d;
    d.fashion_dir = a.data_dir;
    if (m.dataset == "folder") {  // the folder and its preparation, as the run stored them (train_options.h)
      TrainOptions stored = read_checkpoint_train_options(a.checkpoint);
      if (!a.data.empty()) stored.data = a.data;
      d = data_options(stored);
    }
    data = make_training_data(m.dataset, d);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot load the training set '{}': {}", m.dataset, e.what()),
                   m.dataset == "folder" ? "pass the folder the model was trained on with --data DIR"
                                         : "point --data-dir at the Fashion-MNIST IDX files");
  }
  check_writable(out);
  NearestCheckOptions n;
  n.captions = a.nearest_captions;
  n.seed = o.seed;
  std::fputs(fmt::format("tinydiff: memorisation check of {} ({}, step {}): {} training captions, {}, guidance {}\n",
                         a.checkpoint, m.dataset, m.step, n.captions, eval_sampler_label(o, m.schedule.num_timesteps),
                         o.guidance[0])
                 .c_str(),
             stdout);
  std::fflush(stdout);
  NearestCheck check;
  try {
    check = nearest_check(*data, m, o, n);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("the memorisation check failed: {}", e.what()),
                   "check that the checkpoint was trained on this data set");
  }
  std::fputs(("\n" + nearest_table(check)).c_str(), stdout);
  try {
    save_png(png, enlarge(nearest_grid(check), 2));
    write_file_atomic(out, nearest_json(check));
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot write the results: {}", e.what()),
                   "check free disk space and that --out is writable");
  }
  std::fputs(fmt::format("\ntinydiff: wrote {} (rows: sample | nearest 1 | 2 | 3) and {}\n", png, out).c_str(), stdout);
}

void run_images(const EvalArgs& a, EvalOptions& o, const CLI::App& sub) {
  namespace fs = std::filesystem;
  if (a.dataset.empty())
    usage("--images needs --dataset fashion or --dataset shapes", "say which evaluation the images were made for");
  for (const char* name : {"--steps", "--sampler", "--sigmas", "--eta"})
    if (sub.count(name))
      usage(fmt::format("{} does not apply to --images: the images were made by another program", name),
            "leave it out; --steps, --sampler, --sigmas and --eta describe how eval samples a checkpoint");
  if (o.guidance.size() != 1)
    usage(fmt::format("--images takes one --guidance value, got {}", a.guidance),
          "give the scale the images were made with, e.g. --guidance 3 (it is recorded as a label)");
  const std::string print =
      fmt::format("tinydiff eval --dataset {} --samples {} --seed {} --print-prompts", a.dataset, o.samples, o.seed);
  std::error_code ec;
  if (!fs::is_directory(a.images, ec))
    throw CliError(kExitBadFile,
                   fmt::format("the image folder '{}' {}", a.images,
                               fs::exists(a.images, ec) ? "is not a folder" : "does not exist"),
                   fmt::format("write 000000.png, 000001.png, ... and prompts.txt (from '{}') into a folder", print));
  const std::string prompts = (fs::path(a.images) / "prompts.txt").string();
  if (!fs::is_regular_file(prompts, ec))
    throw CliError(kExitBadFile, fmt::format("'{}' does not exist", prompts),
                   fmt::format("write it with '{} > {}'", print, prompts));
  const std::string out = a.out.empty() ? (fs::path(a.images) / "eval.json").string() : a.out;
  check_writable(out);
  o.log = log_line;
  std::fputs(
      fmt::format("tinydiff: evaluating the images in {} ({}): {} samples per {}, made at guidance {}\n", a.images,
                  a.dataset, o.samples, a.dataset == "fashion" ? "class prompt" : "(shape, colour) pair", o.guidance[0])
          .c_str(),
      stdout);
  EvalReport report;
  try {
    report = evaluate_images(a.images, a.dataset, o);
  } catch (const Error& e) {
    if (e.op() == "evaluate_images" || e.op() == "load_png")
      throw CliError(kExitBadFile, fmt::format("cannot evaluate the images: {}", e.what()),
                     fmt::format("prompts.txt must be the output of '{}', and image i ({}/000000.png, ...) a 32x32 "
                                 "8-bit {} PNG made for its line i+1",
                                 print, a.images, a.dataset == "fashion" ? "grayscale" : "RGB"));
    throw CliError(kExitBadFile, fmt::format("evaluation failed: {}", e.what()),
                   "check the Fashion-MNIST files (--data-dir) and the classifier cache (--classifier)");
  }
  finish(report, out);
}

void run_eval(const EvalArgs& a, const CLI::App& sub) {
  EvalOptions o;
  check_args(a, o, sub);
  if (a.print_prompts) {
    if (a.dataset.empty())
      usage("--print-prompts needs --dataset fashion or --dataset shapes",
            "e.g. tinydiff eval --dataset shapes --samples 20 --print-prompts > prompts.txt");
    if (!a.checkpoint.empty() || !a.images.empty())
      usage("--print-prompts prints the prompt list of --dataset and exits; it takes no --checkpoint or --images",
            "leave out --checkpoint and --images");
    std::string text;
    for (const std::string& p : eval_prompts(a.dataset, o)) text += p + "\n";
    std::fputs(text.c_str(), stdout);
    return;
  }
  if (a.checkpoint.empty() == a.images.empty())
    usage(a.checkpoint.empty() ? "give --checkpoint FILE or --images DIR"
                               : "give --checkpoint FILE or --images DIR, not both",
          "--checkpoint scores a model trained by tinydiff, --images a folder of PNG images made elsewhere");
  if (a.threads > 0) omp_set_num_threads(a.threads);
  if (a.nearest)
    run_nearest(a, o);
  else if (!a.checkpoint.empty())
    run_checkpoint(a, o, sub);
  else
    run_images(a, o, sub);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "eval",
      "Score a checkpoint or a folder of PNG images: prompt accuracy and Frechet distance (fashion), attribute "
      "accuracy (shapes)");
  auto a = std::make_shared<EvalArgs>();
  sub->add_option("--checkpoint", a->checkpoint, "A checkpoint.safetensors written by 'tinydiff train'");
  sub->add_option("--images", a->images,
                  "Instead of --checkpoint: a folder of images made elsewhere, 000000.png, 000001.png, ... with "
                  "prompts.txt (needs --dataset)");
  sub->add_option("--dataset", a->dataset,
                  "fashion or shapes: the evaluation of --images or --print-prompts (with --checkpoint it must match)");
  sub->add_flag("--print-prompts", a->print_prompts,
                "Print the evaluation's prompt list of --dataset (with --samples, --seed), one per line, and exit");
  sub->add_flag("--nearest", a->nearest,
                "Memorisation check of --checkpoint: samples of training captions beside their 3 nearest training "
                "images (L2 in pixels) as a grid PNG, the distances and the median distance between training images "
                "(writes nearest.png and nearest.json beside the checkpoint, or --out and its .png)");
  sub->add_option("--nearest-captions", a->nearest_captions, "Training captions (grid rows) of --nearest")
      ->capture_default_str();
  sub->add_option("--samples", a->samples, "Images per class prompt (fashion) or per (shape, colour) pair (shapes)")
      ->capture_default_str();
  sub->add_option("--steps", a->steps,
                  "Sampler steps: one model evaluation each, except heun (2 per step but the last: 2 steps - 1); "
                  "ddpm always takes all T")
      ->capture_default_str();
  add_sampler_options(sub, &a->s, "DDIM eta: 0 deterministic, 1 DDPM-like noise (drawn from --seed)");
  sub->add_option("--guidance", a->guidance, "Guidance scale, or a comma-separated sweep such as 0,1,3,5")
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed of the starting noise (and of the Shapes prompts)")->capture_default_str();
  sub->add_option("--out", a->out, "JSON results file (default: eval.json beside the checkpoint, or in --images)");
  sub->add_option("--batch", a->batch, "Images per network call")->capture_default_str();
  sub->add_option("--classifier", a->classifier,
                  "Fashion-MNIST classifier cache (default: ~/.cache/tinydiff/fashion_classifier.safetensors; "
                  "trained when missing)");
  sub->add_option("--real-images", a->real_images, "Real test images of the Frechet reference")->capture_default_str();
  sub->add_option("--baseline-images", a->baseline_images,
                  "Real training images of the real-vs-real baseline (0: none)")
      ->capture_default_str();
  sub->add_option("--data-dir", a->data_dir, "Folder of the Fashion-MNIST IDX files")->capture_default_str();
  sub->add_option("--data", a->data,
                  "With --nearest on a model trained with 'train --data': the image folder, if it has moved since "
                  "(default: the folder stored in the checkpoint)");
  sub->add_option("--threads", a->threads, "Threads (0: every core)")->capture_default_str();
  sub->callback([a, sub] { run_eval(*a, *sub); });
}

}  // namespace tinydiff::cli
