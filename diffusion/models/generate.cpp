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

Denoiser guided_denoiser(const TextToImageModel& model, const Tokenizer& tokenizer,
                         const std::vector<std::string>& prompts, const std::vector<std::string>& negative_prompts,
                         double guidance) {
  const int64_t b = static_cast<int64_t>(prompts.size());
  TD_CHECK(b > 0, "guided_denoiser", "no prompts given");
  TD_CHECK(negative_prompts.empty() || static_cast<int64_t>(negative_prompts.size()) == b, "guided_denoiser",
           fmt::format("got {} negative prompts for {} prompts; expected none or one per prompt",
                       negative_prompts.size(), b));
  TD_CHECK(std::isfinite(guidance), "guided_denoiser", "the guidance scale must be finite");
  const double w = guidance;
  const bool need_cond = w != 0.0, need_uncond = w != 1.0;
  const Tokenizer::Batch cond = tokenizer.encode_batch(prompts);  // ids: (b, L)
  const Tokenizer::Batch uncond =                                 // the negative prompts, or b empty ones
      tokenizer.encode_batch(negative_prompts.empty() ? std::vector<std::string>(size_t(b)) : negative_prompts);
  Tensor ids, mask;
  if (need_cond && need_uncond) {
    ids = concat({uncond.ids, cond.ids}, 0);  // (2b, L): unconditional (negative) rows first (guidance.h)
    mask = concat({uncond.mask, cond.mask}, 0);
  } else {
    ids = need_cond ? cond.ids : uncond.ids;  // (b, L)
    mask = need_cond ? cond.mask : uncond.mask;
  }
  const Variable ctx = model.text_encoder.forward(ids, mask);  // ctx: (b or 2b, L, d), once
  const Denoiser unet(
      [&model, ctx, mask](const Tensor& x, const Tensor& t) {
        return model.unet.forward(Variable(x), t, ctx, mask).value();  // (b or 2b, C, S, S)
      },
      model.prediction());
  return need_cond && need_uncond ? classifier_free_guidance(unet, w) : unet;
}

namespace {

// The checks of generate_images and generate_chunk (`op` names which): shapes, counts and options.
void check_generate(const TextToImageModel& model, const Tokenizer& tokenizer, const std::vector<std::string>& prompts,
                    const Tensor& x_T, const GenerateOptions& options, const char* op) {
  const ModelConfig& cfg = model.config();
  const int64_t n = static_cast<int64_t>(prompts.size());
  check_defined(x_T, op);
  TD_CHECK(x_T.dim() == 4 && x_T.size(0) == n && x_T.size(1) == cfg.image_channels && x_T.size(2) == cfg.image_size &&
               x_T.size(3) == cfg.image_size,
           op,
           fmt::format("expected x_T of shape ({}, {}, {}, {}) for {} prompts, got {}", n, cfg.image_channels,
                       cfg.image_size, cfg.image_size, n, shape_str(x_T.shape())));
  TD_CHECK(n > 0, op, "no prompts given");
  TD_CHECK(options.batch > 0, op, fmt::format("batch must be positive, got {}", options.batch));
  TD_CHECK(std::isfinite(options.guidance), op, "the guidance scale must be finite");
  TD_CHECK(tokenizer.max_length() == cfg.max_length && tokenizer.vocab_size() <= cfg.vocab_size, op,
           fmt::format("the tokenizer ({} words, length {}) does not fit the model (vocab {}, length {})",
                       tokenizer.vocab_size(), tokenizer.max_length(), cfg.vocab_size, cfg.max_length));
  const std::vector<std::string>& neg = options.negative_prompts;
  TD_CHECK(neg.size() <= 1 || static_cast<int64_t>(neg.size()) == n, op,
           fmt::format("got {} negative prompts for {} prompts; expected none, one, or one per prompt", neg.size(), n));
  const EditOptions& edit = options.edit;
  TD_CHECK(!edit.init.defined() || edit.init.shape() == x_T.shape(), op,
           fmt::format("the init images are {}; expected the shape of x_T, {}",
                       edit.init.defined() ? shape_str(edit.init.shape()) : "", shape_str(x_T.shape())));
  const bool per_image_mask = edit.mask.defined() && edit.mask.dim() == 4 && edit.mask.size(0) == n && n > 1;
  TD_CHECK(!edit.mask.defined() || (edit.mask.dim() == 4 && (edit.mask.size(0) == 1 || per_image_mask)), op,
           fmt::format("the mask is {}; expected (1 or {}, 1 or {}, {}, {})",
                       edit.mask.defined() ? shape_str(edit.mask.shape()) : "", n, cfg.image_channels, cfg.image_size,
                       cfg.image_size));
}

}  // namespace

std::vector<ChunkRange> chunk_ranges(int64_t n, int64_t batch) {
  TD_CHECK(batch >= 1 && n >= 0, "chunk_ranges",
           fmt::format("expected batch >= 1 and n >= 0, got batch {} and n {}", batch, n));
  std::vector<ChunkRange> chunks;
  for (int64_t start = 0; start < n; start += batch) chunks.push_back({start, std::min(n, start + batch)});
  return chunks;
}

Tensor generate_chunk(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                      const std::vector<std::string>& prompts, const Tensor& x_T, Generator& gen,
                      const GenerateOptions& options) {
  check_generate(model, tokenizer, prompts, x_T, options, "generate_chunk");
  NoGradGuard no_grad;
  const int64_t b = static_cast<int64_t>(prompts.size());
  const std::vector<std::string>& neg = options.negative_prompts;  // empty: the empty prompt
  const std::vector<std::string> negatives = neg.size() == 1 ? std::vector<std::string>(size_t(b), neg[0]) : neg;
  const Denoiser denoiser = guided_denoiser(model, tokenizer, prompts, negatives, options.guidance);
  return clamp(edit_sample(denoiser, schedule, x_T.contiguous(), gen, options.sampler, options.edit), -1.0,
               1.0);  // (b, C, S, S)
}

Tensor generate_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                       const std::vector<std::string>& prompts, const Tensor& x_T, Generator& gen,
                       const GenerateOptions& options) {
  check_generate(model, tokenizer, prompts, x_T, options, "generate_images");
  const int64_t n = static_cast<int64_t>(prompts.size());
  const std::vector<std::string>& neg = options.negative_prompts;
  const EditOptions& edit = options.edit;
  const bool per_image_mask = edit.mask.defined() && edit.mask.size(0) == n && n > 1;
  std::vector<Tensor> chunks;
  for (const auto& [start, end] : chunk_ranges(n, options.batch)) {
    GenerateOptions o = options;  // this chunk's rows of the per-image options
    if (neg.size() > 1) o.negative_prompts.assign(neg.begin() + start, neg.begin() + end);
    if (edit.init.defined()) o.edit.init = edit.init.slice(0, start, end).contiguous();  // (b, C, S, S)
    if (per_image_mask) o.edit.mask = edit.mask.slice(0, start, end).contiguous();       // (b, 1 or C, S, S)
    const std::vector<std::string> chunk_prompts(prompts.begin() + start, prompts.begin() + end);
    chunks.push_back(generate_chunk(model, tokenizer, schedule, chunk_prompts, x_T.slice(0, start, end), gen, o));
  }
  return chunks.size() == 1 ? chunks[0] : concat(chunks, 0);  // (N, C, S, S)
}

}  // namespace tinydiff
