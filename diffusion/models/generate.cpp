// Prompts to images. See generate.h.
#include "diffusion/models/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "diffusion/sampling/guidance.h"

namespace tinydiff {

SamplerOptions image_sampler_options(SamplerKind kind, int64_t steps, double eta, SigmaSpacing sigmas) {
  switch (kind) {
    case SamplerKind::Euler:
      return EulerOptions{.steps = steps, .sigmas = sigmas, .clip_x0 = true};
    case SamplerKind::EulerAncestral:
      return EulerAncestralOptions{.steps = steps, .sigmas = sigmas, .eta = 1.0, .clip_x0 = true};
    case SamplerKind::Heun:
      return HeunOptions{.steps = steps, .sigmas = sigmas, .clip_x0 = true};
    case SamplerKind::DpmSolver2M:
      return DpmSolverOptions{.steps = steps, .sigmas = sigmas, .clip_x0 = true};
    case SamplerKind::Ddim:
    case SamplerKind::Ddpm:
      break;
  }
  if (kind == SamplerKind::Ddpm) {
    DdpmOptions ddpm;
    ddpm.variance = DdpmVariance::BetaTilde;
    ddpm.clip_x0 = true;
    return ddpm;
  }
  DdimOptions ddim;
  ddim.steps = steps;
  ddim.eta = eta;
  ddim.spacing = TimestepSpacing::Trailing;
  ddim.clip_x0 = true;
  return ddim;
}

Tensor generate_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                       const std::vector<std::string>& prompts, const Tensor& x_T, Generator& gen,
                       const GenerateOptions& options) {
  const ModelConfig& cfg = model.config();
  const int64_t n = static_cast<int64_t>(prompts.size());
  check_defined(x_T, "generate_images");
  TD_CHECK(x_T.dim() == 4 && x_T.size(0) == n && x_T.size(1) == cfg.image_channels && x_T.size(2) == cfg.image_size &&
               x_T.size(3) == cfg.image_size,
           "generate_images",
           fmt::format("expected x_T of shape ({}, {}, {}, {}) for {} prompts, got {}", n, cfg.image_channels,
                       cfg.image_size, cfg.image_size, n, shape_str(x_T.shape())));
  TD_CHECK(n > 0, "generate_images", "no prompts given");
  TD_CHECK(options.batch > 0, "generate_images", fmt::format("batch must be positive, got {}", options.batch));
  TD_CHECK(std::isfinite(options.guidance), "generate_images", "the guidance scale must be finite");
  TD_CHECK(tokenizer.max_length() == cfg.max_length && tokenizer.vocab_size() <= cfg.vocab_size, "generate_images",
           fmt::format("the tokenizer ({} words, length {}) does not fit the model (vocab {}, length {})",
                       tokenizer.vocab_size(), tokenizer.max_length(), cfg.vocab_size, cfg.max_length));

  NoGradGuard no_grad;
  const double w = options.guidance;
  const bool need_cond = w != 0.0, need_uncond = w != 1.0;
  std::vector<Tensor> chunks;
  for (int64_t start = 0; start < n; start += options.batch) {
    const int64_t end = std::min(n, start + options.batch), b = end - start;
    const std::vector<std::string> chunk_prompts(prompts.begin() + start, prompts.begin() + end);
    const Tokenizer::Batch cond = tokenizer.encode_batch(chunk_prompts);                          // ids: (b, L)
    const Tokenizer::Batch uncond = tokenizer.encode_batch(std::vector<std::string>(size_t(b)));  // empty prompts
    Tensor ids, mask;
    if (need_cond && need_uncond) {
      ids = concat({uncond.ids, cond.ids}, 0);  // (2b, L): unconditional rows first (guidance.h)
      mask = concat({uncond.mask, cond.mask}, 0);
    } else {
      ids = need_cond ? cond.ids : uncond.ids;  // (b, L)
      mask = need_cond ? cond.mask : uncond.mask;
    }
    const Variable ctx = model.text_encoder.forward(ids, mask);  // ctx: (b or 2b, L, d), once per chunk
    const Denoiser unet(
        [&](const Tensor& x, const Tensor& t) {
          return model.unet.forward(Variable(x), t, ctx, mask).value();  // (b or 2b, C, S, S)
        },
        model.prediction());
    const Denoiser denoiser = need_cond && need_uncond ? classifier_free_guidance(unet, w) : unet;
    const Tensor x = x_T.slice(0, start, end).contiguous();  // (b, C, S, S)
    chunks.push_back(sample(denoiser, schedule, x, gen, options.sampler));
  }
  return clamp(chunks.size() == 1 ? chunks[0] : concat(chunks, 0), -1.0, 1.0);  // (N, C, S, S)
}

}  // namespace tinydiff
