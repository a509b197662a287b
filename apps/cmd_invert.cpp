// `tinydiff invert`: DDIM inversion of an image to the noise x_T from which `tinydiff sample --init-noise` redraws
// it (or, with another prompt, edits it keeping its layout).
#include <fmt/format.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "apps/edit_inputs.h"
#include "apps/load_checkpoint.h"
#include "apps/output_dir.h"
#include "diffusion/data/image_io.h"
#include "diffusion/models/invert.h"
#include "diffusion/models/trained_model.h"
#include "nn/safetensors.h"

namespace tinydiff::cli {
namespace {

struct InvertArgs {
  std::string checkpoint, image, prompt, out;
  int64_t steps = 50;
  double guidance = 1.0;
  int threads = 0;
  bool raw_weights = false;
};

void check_args(const InvertArgs& a) {
  const auto usage = [](const std::string& problem, const std::string& hint) {
    throw CliError(kExitUsage, problem, hint);
  };
  if (a.steps < 1)
    usage(fmt::format("--steps must be at least 1, got {}", a.steps), "more steps invert more exactly; try 100");
  if (!std::isfinite(a.guidance) || a.guidance < 0)
    usage(fmt::format("--guidance must be a number >= 0, got {}", a.guidance), "1 (no guidance) inverts best");
  if (a.threads < 0) usage(fmt::format("--threads must not be negative, got {}", a.threads), "0 uses every core");
}

void run_invert(const InvertArgs& a) {
  check_args(a);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const Tensor png = read_png_flag(a.image, "--image");  // (C, H, W) in [-1, 1]
  const TrainedModel m = load_checkpoint(a.checkpoint, !a.raw_weights);
  const int64_t C = m.config.image_channels, S = m.config.image_size;
  check_image_fits(png, a.image, "--image", C, S);
  if (a.steps > m.schedule.num_timesteps)
    throw CliError(kExitUsage,
                   fmt::format("--steps {} is more than the model's {} timesteps", a.steps, m.schedule.num_timesteps),
                   fmt::format("use at most --steps {}", m.schedule.num_timesteps));
  if (a.guidance != 1.0)
    print_warning(
        fmt::format("inverting at --guidance {}: guided DDIM inversion drifts, the reconstruction will "
                    "differ; --guidance 1 inverts most exactly",
                    a.guidance));
  OutputDir out(a.out, "--out");
  const Tensor image = png.unsqueeze(0);  // (1, C, S, S)
  std::fputs(fmt::format("tinydiff: inverting '{}' under \"{}\" (DDIM, {} steps, guidance {}, {} weights)\n", a.image,
                         a.prompt, a.steps, a.guidance, a.raw_weights ? "training" : "EMA")
                 .c_str(),
             stdout);
  InvertOptions inv;
  inv.steps = a.steps;
  inv.guidance = a.guidance;
  GenerateOptions g;
  g.sampler = inversion_sampler_options(a.steps);  // DDIM without clipping, as 'sample --init-noise' uses
  g.guidance = a.guidance;
  Tensor x_T, back;
  try {
    x_T = invert_images(*m.model, *m.tokenizer, m.schedule, {a.prompt}, image, inv);  // (1, C, S, S)
    Generator unused(0);                                                              // DDIM with eta 0 draws no noise
    back = generate_images(*m.model, *m.tokenizer, m.schedule, {a.prompt}, x_T, unused, g);  // (1, C, S, S)
  } catch (const Error& e) {
    throw CliError(kExitUsage, e.what(), "run 'tinydiff invert --help' for the options");
  }
  // The error in [0, 1] pixel units: the images are in [-1, 1], so differences halve.
  const double rmse = std::sqrt(mean(square(back - image)).item()) / 2.0;
  const double psnr = rmse > 0.0 ? 20.0 * std::log10(1.0 / rmse) : INFINITY;

  const std::string noise_path = (std::filesystem::path(a.out) / "noise.safetensors").string();
  const std::string recon_path = (std::filesystem::path(a.out) / "reconstruction.png").string();
  try {
    save_safetensors(noise_path, {{"x_T", x_T}},
                     {{"prompt", a.prompt},
                      {"image", a.image},
                      {"steps", std::to_string(a.steps)},
                      {"guidance", fmt::format("{}", a.guidance)},
                      {"checkpoint", a.checkpoint}});
    save_png(recon_path, back.squeeze(0));  // (C, S, S)
  } catch (const Error& e) {
    std::error_code ec;
    std::filesystem::remove(noise_path, ec);
    throw CliError(kExitBadFile, fmt::format("cannot write the results: {}", e.what()),
                   "check free disk space and that --out is writable");
  }
  out.keep();
  std::fputs(fmt::format("tinydiff: reconstruction error RMSE {:.5f}, PSNR {:.2f} dB (pixels in [0, 1], DDIM {} steps "
                         "there and back)\n",
                         rmse, psnr, a.steps)
                 .c_str(),
             stdout);
  std::fputs(fmt::format("tinydiff: wrote {} and {}; edit with 'tinydiff sample --init-noise {} --steps {} --guidance "
                         "{} --prompt ...'\n",
                         noise_path, recon_path, noise_path, a.steps, a.guidance)
                 .c_str(),
             stdout);
}

}  // namespace

void add_invert_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "invert",
      "Find the noise from which DDIM redraws an image (DDIM inversion), report the reconstruction error, and save "
      "the noise for 'tinydiff sample --init-noise'");
  auto a = std::make_shared<InvertArgs>();
  sub->add_option("--checkpoint", a->checkpoint, "A checkpoint.safetensors written by 'tinydiff train'")->required();
  sub->add_option("--image", a->image, "The PNG to invert (the model's size and channels)")->required();
  sub->add_option("--prompt", a->prompt, "A caption of the image (the inversion is conditioned on it)")->required();
  sub->add_option("--out", a->out, "Output folder: noise.safetensors (x_T) and reconstruction.png")->required();
  sub->add_option("--steps", a->steps, "DDIM steps; use the same with 'sample --init-noise'")->capture_default_str();
  sub->add_option("--guidance", a->guidance, "Classifier-free guidance scale during inversion (1: none)")
      ->capture_default_str();
  sub->add_option("--threads", a->threads, "Threads (0: every core)")->capture_default_str();
  sub->add_flag("--training-weights", a->raw_weights, "Use the raw training weights instead of the EMA weights");
  sub->footer(
      "DDIM inversion runs deterministic DDIM backwards (x_0 -> x_T) and then forwards again. It is exact only as "
      "the steps grow without bound and at guidance 1: each inversion step evaluates the model at the current, "
      "less noisy point, and guided inversion (guidance > 1) drifts. The error is printed in [0, 1] pixel units.");
  sub->callback([a] { run_invert(*a); });
}

}  // namespace tinydiff::cli
