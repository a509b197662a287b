// `tinydiff sample`: generates images for a prompt from a trained checkpoint.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <utility>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "apps/edit_inputs.h"
#include "apps/load_checkpoint.h"
#include "apps/output_dir.h"
#include "apps/sampler_args.h"
#include "apps/step_progress.h"
#include "diffusion/data/image_io.h"
#include "diffusion/models/generate.h"
#include "diffusion/models/invert.h"
#include "diffusion/models/trained_model.h"
#include "diffusion/sampling/karras_sigmas.h"

namespace tinydiff::cli {
namespace {

constexpr int64_t kMaxCount = 10000;

struct SampleArgs {
  std::string checkpoint, prompt, out;
  std::string output;  // -o/--output FILE.png: one file instead of the --out folder
  SamplerArgs s;       // --sampler, --sigmas, --eta
  std::string negative_prompt, init_image, mask, init_noise;  // editing; empty: not given
  int64_t count = 8, steps = 50, batch = 64, resample = 1;
  double guidance = 3.0;
  double strength = -1.0;  // -1: not given (0.8 for image-to-image, 1 for inpainting)
  int64_t seed = 0;        // -1: a random seed, printed
  int threads = 0;
  bool raw_weights = false;
};

void check_args(const SampleArgs& a) {
  const auto usage = [](const std::string& problem, const std::string& hint) {
    throw CliError(kExitUsage, problem, hint);
  };
  if (a.out.empty() == a.output.empty())
    usage(a.out.empty() ? "no output given: --out DIR or -o FILE.png is required" : "--out and -o/--output both given",
          "--out DIR writes 000.png, 001.png, ... and grid.png; -o FILE.png writes one PNG");
  if (!a.output.empty() && std::filesystem::path(a.output).extension() != ".png")
    usage(fmt::format("-o/--output '{}' does not end in .png", a.output), "name the image file, e.g. -o bag.png");
  if (a.seed < -1)
    usage(fmt::format("--seed must be a non-negative integer or -1 (random), got {}", a.seed), "e.g. --seed 42");
  if (a.count < 1 || a.count > kMaxCount)
    usage(fmt::format("--count must be 1..{}, got {}", kMaxCount, a.count),
          "ask for at least one image, e.g. --count 8");
  if (a.batch > 1'000'000) usage(fmt::format("--batch must be 1..1000000, got {}", a.batch), "the default is 64");
  if (a.steps < 1)
    usage(fmt::format("--steps must be at least 1, got {}", a.steps),
          "DDIM works well with 25-100 steps, dpmpp_2m with 10-20");
  if (!std::isfinite(a.guidance) || a.guidance < 0)
    usage(fmt::format("--guidance must be a number >= 0, got {}", a.guidance),
          "3 is a good start; 1 turns guidance off");
  if (a.batch < 1) usage(fmt::format("--batch must be at least 1, got {}", a.batch), "the default is 64");
  if (a.threads < 0) usage(fmt::format("--threads must not be negative, got {}", a.threads), "0 uses every core");
  if (a.strength != -1.0 && !(a.strength >= 0 && a.strength <= 1))
    usage(fmt::format("--strength must be in [0, 1], got {}", a.strength),
          "0 keeps the init image, 1 redraws it from pure noise; 0.5-0.8 edits it");
  if (a.strength != -1.0 && a.init_image.empty())
    usage("--strength needs --init-image", "give the picture to start from with --init-image PNG");
  if (!a.mask.empty() && a.init_image.empty())
    usage("--mask needs --init-image", "give the picture whose black mask pixels are kept with --init-image PNG");
  if (a.resample < 1 || a.resample > 100)
    usage(fmt::format("--resample must be 1..100, got {}", a.resample), "1 runs each step once; 5-10 blend better");
  if (a.resample > 1 && a.mask.empty())
    usage("--resample needs --mask", "resampling jumps apply to inpainting: add --init-image PNG --mask PNG");
}

// Warns about prompt words the model cannot read; `what` names the prompt ("prompt", "negative prompt").
void warn_about_prompt(const Tokenizer& tokenizer, const std::string& prompt, const std::string& what,
                       const std::string& checkpoint) {
  const Tokenizer::Encoded enc = tokenizer.encode(prompt);
  if (!enc.unknown.empty())
    print_warning(
        fmt::format("unknown word{} {} in the {} {} <unk> (not in the training captions); see 'tinydiff "
                    "info --checkpoint {}' for the vocabulary",
                    enc.unknown.size() == 1 ? "" : "s", fmt::format("'{}'", fmt::join(enc.unknown, "', '")), what,
                    enc.unknown.size() == 1 ? "becomes" : "become", checkpoint));
  if (enc.truncated)
    print_warning(fmt::format("the {} is longer than the model's {} tokens; only its first {} words are used", what,
                              tokenizer.max_length(), tokenizer.max_length() - 1));
}

void run_sample(const SampleArgs& given, const CLI::App& sub) {
  SampleArgs a = given;
  if (!a.output.empty() && sub.count("--count") == 0) a.count = 1;  // -o FILE.png: one image unless --count says
  check_args(a);
  const SamplerChoice choice = parse_sampler_args(a.s, sub);
  const SamplerKind kind = choice.kind;
  const SigmaSpacing sigmas = choice.sigmas;
  if (a.threads > 0) omp_set_num_threads(a.threads);
  // The editing files are read before the checkpoint, so that a wrong file fails fast.
  const Tensor init_png = a.init_image.empty() ? Tensor() : read_png_flag(a.init_image, "--init-image");
  const Tensor mask_png = a.mask.empty() ? Tensor() : read_png_flag(a.mask, "--mask");
  const TrainedModel m = load_checkpoint(a.checkpoint, !a.raw_weights);
  const int64_t C = m.config.image_channels, S = m.config.image_size;
  EditOptions edit;
  if (init_png.defined()) {
    check_image_fits(init_png, a.init_image, "--init-image", C, S);
    edit.init = concat(std::vector<Tensor>(size_t(a.count), init_png.unsqueeze(0)), 0);  // (N, C, S, S)
    edit.strength = a.strength != -1.0 ? a.strength : (mask_png.defined() ? 1.0 : 0.8);
  }
  if (mask_png.defined()) edit.mask = binary_mask(mask_png, a.mask, S);  // (1, 1, S, S): 1 = generate
  edit.resample = a.resample;
  if (kind != SamplerKind::Ddpm && a.steps > m.schedule.num_timesteps)
    throw CliError(kExitUsage,
                   fmt::format("--steps {} is more than the model's {} timesteps", a.steps, m.schedule.num_timesteps),
                   fmt::format("use at most --steps {}", m.schedule.num_timesteps));
  if (kind == SamplerKind::Ddpm && sub.count("--steps"))
    print_warning(fmt::format("--steps is ignored by ddpm, which takes all {} steps", m.schedule.num_timesteps));

  const Tensor file_noise = a.init_noise.empty() ? Tensor() : read_init_noise(a.init_noise, a.count, C, S);
  if (file_noise.defined() && kind == SamplerKind::Ddpm)
    print_warning("--init-noise is DDIM's noise (from 'tinydiff invert'); ddpm adds fresh noise at every step");

  // -o FILE.png writes into FILE's folder (made if missing); --out DIR into DIR.
  const std::string parent = std::filesystem::path(a.output).parent_path().string();
  OutputDir out(a.out.empty() ? (parent.empty() ? std::string(".") : parent) : a.out,
                a.out.empty() ? "-o/--output" : "--out");
  // Tokenize once to warn about what the model cannot read.
  warn_about_prompt(*m.tokenizer, a.prompt, "prompt", a.checkpoint);
  if (!a.negative_prompt.empty()) {
    warn_about_prompt(*m.tokenizer, a.negative_prompt, "negative prompt", a.checkpoint);
    if (a.guidance == 1.0)
      print_warning("--negative-prompt has no effect at --guidance 1 (only the prompt's half is evaluated)");
  }

  GenerateOptions g;
  g.sampler = image_sampler_options(kind, a.steps, a.s.eta, sigmas);
  // From inverted noise, deterministic DDIM samples as 'tinydiff invert' reconstructs: without clipping x0_hat.
  if (!a.init_noise.empty() && kind == SamplerKind::Ddim && a.s.eta == 0.0)
    g.sampler = inversion_sampler_options(a.steps);
  g.guidance = a.guidance;
  g.batch = a.batch;
  if (!a.negative_prompt.empty()) g.negative_prompts = {a.negative_prompt};
  g.edit = edit;
  const int64_t T = m.schedule.num_timesteps;
  const uint64_t seed = a.seed == -1 ? std::random_device{}() : static_cast<uint64_t>(a.seed);
  Generator gen(seed);
  Tensor x_T = gen.normal({a.count, C, S, S});  // (N, C, S, S)
  if (file_noise.defined()) x_T = file_noise;   // (N, C, S, S) from 'tinydiff invert'
  const int64_t steps = sampler_steps(g.sampler, T), nfe = sampler_evaluations(g.sampler, T);
  const bool ode = choice.uses_sigmas();
  std::string editing;
  if (!a.negative_prompt.empty()) editing += fmt::format(", negative prompt \"{}\"", a.negative_prompt);
  if (edit.init.defined())
    editing += fmt::format(", {} '{}' at strength {}", edit.mask.defined() ? "inpainting" : "from", a.init_image,
                           edit.strength);
  if (edit.mask.defined()) editing += fmt::format(" with mask '{}' (resample {})", a.mask, a.resample);
  if (file_noise.defined()) editing += fmt::format(", noise from '{}'", a.init_noise);
  std::fputs(fmt::format("tinydiff: sampling {} image{} of \"{}\" ({}, {} steps{}{}, guidance {}, seed {}, {} weights, "
                         "step {} of '{}'{})\n",
                         a.count, a.count == 1 ? "" : "s", a.prompt, sampler_name(kind), steps,
                         nfe != steps ? fmt::format(" = {} model evaluations", nfe) : "",
                         ode ? fmt::format(", {} sigmas", sigma_spacing_name(sigmas)) : "", a.guidance, seed,
                         a.raw_weights ? "training" : "EMA", m.step, m.dataset, editing)
                 .c_str(),
             stdout);
  // One bar over every step of every chunk of --batch images (stderr, on a terminal only).
  const int64_t chunks = static_cast<int64_t>(chunk_ranges(a.count, a.batch).size());
  StepProgress bar("sampling", chunks * steps);
  if (bar.enabled()) set_step_callback(g.sampler, bar.callback());
  Tensor images;
  try {
    images = generate_images(*m.model, *m.tokenizer, m.schedule, std::vector<std::string>(size_t(a.count), a.prompt),
                             x_T, gen, g);
  } catch (const Error& e) {
    throw CliError(kExitUsage, e.what(), "run 'tinydiff sample --help' for the options");
  }
  bar.finish();

  std::vector<std::string> written;
  try {
    if (!a.output.empty()) {  // -o FILE.png: the image, or the grid of all --count images
      save_png(a.output, a.count == 1 ? images.squeeze(0) : make_grid(images, std::min<int64_t>(a.count, 8)));
      written.push_back(a.output);
    } else {
      for (int64_t i = 0; i < a.count; ++i) {
        const std::string path = (std::filesystem::path(a.out) / fmt::format("{:03}.png", i)).string();
        save_png(path, images.slice(0, i, i + 1).squeeze(0));  // (C, S, S)
        written.push_back(path);
      }
      const std::string grid = (std::filesystem::path(a.out) / "grid.png").string();
      save_png(grid, make_grid(images, std::min<int64_t>(a.count, 8)));
      written.push_back(grid);
    }
  } catch (const Error& e) {
    std::error_code ec;
    for (const auto& p : written) std::filesystem::remove(p, ec);
    throw CliError(kExitBadFile, fmt::format("cannot write the images: {}", e.what()),
                   "check free disk space and that the output folder is writable");
  }
  out.keep();
  if (written.size() == 1) {
    std::fputs(fmt::format("tinydiff: wrote {}\n", written.front()).c_str(), stdout);
  } else {
    const std::string files =
        a.count == 1 ? written.front() : fmt::format("{} ... {}", written.front(), written[written.size() - 2]);
    std::fputs(fmt::format("tinydiff: wrote {} and {}\n", files, written.back()).c_str(), stdout);
  }
}

}  // namespace

void add_sample_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("sample", "Generate images for a text prompt from a trained checkpoint");
  auto a = std::make_shared<SampleArgs>();
  sub->add_option("--checkpoint", a->checkpoint, "A checkpoint.safetensors written by 'tinydiff train'")->required();
  sub->add_option("-p,--prompt", a->prompt, "The text prompt (\"\" samples unconditionally)")->required();
  sub->add_option("--out", a->out, "Output folder: 000.png, 001.png, ... and grid.png (or give -o)");
  sub->add_option("-o,--output", a->output,
                  "Output file instead of --out: one image (with --count N > 1, the grid of all N)");
  sub->add_option("--count", a->count, "Number of images")->capture_default_str();
  sub->add_option("--steps", a->steps,
                  "Sampler steps: one model evaluation each, except heun (2 per step but the last: 2 steps - 1); "
                  "ddpm always takes all T")
      ->capture_default_str();
  add_sampler_options(sub, &a->s, "DDIM eta: 0 deterministic, 1 DDPM-like noise (ddim only)");
  sub->add_option("--guidance,--cfg-scale", a->guidance, "Classifier-free guidance scale (1: none)")
      ->capture_default_str();
  sub->add_option("-s,--seed", a->seed, "Seed of the starting noise (-1: a random seed, printed)")
      ->capture_default_str();
  sub->add_option("--batch", a->batch, "Images per network call")->capture_default_str();
  sub->add_option("--threads", a->threads, "Threads (0: every core)")->capture_default_str();
  sub->add_flag("--training-weights", a->raw_weights, "Use the raw training weights instead of the EMA weights");
  // Editing (README "Editing"; diffusion/sampling/editing.h, diffusion/models/invert.h).
  const std::string editing = "Editing";
  sub->add_option("-n,--negative-prompt", a->negative_prompt,
                  "Guide away from this prompt instead of away from the empty one (needs --guidance other than 1)")
      ->group(editing);
  sub->add_option("--init-image", a->init_image,
                  "Start from this PNG (the model's size and channels, e.g. 32x32 grayscale) instead of pure noise: "
                  "image-to-image (SDEdit)")
      ->group(editing);
  sub->add_option("--strength", a->strength,
                  "How much of the sampling to redo from --init-image, in [0, 1]: the last round(strength x steps) "
                  "steps run from the image noised to that step; 0 returns the image, 1 starts from pure noise "
                  "(default 0.8, or 1 with --mask)")
      ->group(editing);
  sub->add_option("--mask", a->mask,
                  "Inpainting (RePaint): a black-and-white PNG of the model's size; white pixels are generated, black "
                  "ones keep --init-image (re-noised to each step's level)")
      ->group(editing);
  sub->add_option("--resample", a->resample,
                  "With --mask: run every step this many times, re-noising between runs (RePaint's resampling) so "
                  "the generated part blends with the kept part")
      ->capture_default_str()
      ->group(editing);
  sub->add_option("--init-noise", a->init_noise,
                  "Start from the noise x_T in this .safetensors file (written by 'tinydiff invert') instead of random "
                  "noise: with DDIM (eta 0, sampled without clipping, as invert does) and the inverted image's --steps "
                  "and --guidance it redraws the image, with another prompt it edits it keeping the layout (exact "
                  "only with many steps and at guidance 1)")
      ->group(editing);
  sub->callback([a, sub] { run_sample(*a, *sub); });
}

}  // namespace tinydiff::cli
