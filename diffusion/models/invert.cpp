// Images to noise by DDIM inversion under the text-conditioned U-Net. See invert.h.
#include "diffusion/models/invert.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "diffusion/sampling/ddim_inversion.h"

namespace tinydiff {

SamplerOptions inversion_sampler_options(int64_t steps) {
  DdimOptions ddim = std::get<DdimOptions>(image_sampler_options(SamplerKind::Ddim, steps, 0.0));
  ddim.clip_x0 = false;  // clipping would change the ODE the inversion integrates
  return ddim;
}

Tensor invert_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                     const std::vector<std::string>& prompts, const Tensor& images, const InvertOptions& options) {
  const ModelConfig& cfg = model.config();
  const int64_t n = static_cast<int64_t>(prompts.size());
  check_defined(images, "invert_images");
  TD_CHECK(n > 0, "invert_images", "no prompts given");
  TD_CHECK(images.dim() == 4 && images.size(0) == n && images.size(1) == cfg.image_channels &&
               images.size(2) == cfg.image_size && images.size(3) == cfg.image_size,
           "invert_images",
           fmt::format("expected images of shape ({}, {}, {}, {}) for {} prompts, got {}", n, cfg.image_channels,
                       cfg.image_size, cfg.image_size, n, shape_str(images.shape())));
  TD_CHECK(options.batch > 0, "invert_images", fmt::format("batch must be positive, got {}", options.batch));
  TD_CHECK(options.steps >= 1 && options.steps <= schedule.num_timesteps, "invert_images",
           fmt::format("steps must be 1..{}, got {}", schedule.num_timesteps, options.steps));
  TD_CHECK(tokenizer.max_length() == cfg.max_length && tokenizer.vocab_size() <= cfg.vocab_size, "invert_images",
           fmt::format("the tokenizer ({} words, length {}) does not fit the model (vocab {}, length {})",
                       tokenizer.vocab_size(), tokenizer.max_length(), cfg.vocab_size, cfg.max_length));
  const DdimOptions ddim = std::get<DdimOptions>(inversion_sampler_options(options.steps));

  NoGradGuard no_grad;
  std::vector<Tensor> chunks;
  for (int64_t start = 0; start < n; start += options.batch) {
    const int64_t end = std::min(n, start + options.batch);
    const std::vector<std::string> chunk_prompts(prompts.begin() + start, prompts.begin() + end);
    const Denoiser denoiser = guided_denoiser(model, tokenizer, chunk_prompts, {}, options.guidance);
    const Tensor x0 = images.slice(0, start, end).contiguous();   // (b, C, S, S)
    chunks.push_back(ddim_invert(denoiser, schedule, x0, ddim));  // (b, C, S, S)
  }
  return chunks.size() == 1 ? chunks[0] : concat(chunks, 0);  // (N, C, S, S)
}

}  // namespace tinydiff
