// Prompts to images, and checkpoints to models. See generate.h.
#include "diffusion/models/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "diffusion/sampling/guidance.h"
#include "nn/checkpoint.h"
#include "nn/state_dict.h"

namespace tinydiff {

SamplerOptions image_sampler_options(int64_t steps) {
  SamplerOptions s;
  s.sampler = "ddim";
  s.steps = steps;
  s.spacing = "trailing";
  s.clip_x0 = true;
  return s;
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
    const auto unet = [&](const Tensor& x, const Tensor& t) {
      return model.unet.forward(Variable(x), t, ctx, mask).value();  // (b or 2b, C, S, S)
    };
    Denoiser denoiser;
    if (need_cond && need_uncond)
      denoiser = classifier_free_guidance(unet, w);
    else
      denoiser = unet;
    const Tensor x = x_T.slice(0, start, end).contiguous();  // (b, C, S, S)
    chunks.push_back(sample(denoiser, schedule, x, gen, options.sampler));
  }
  return clamp(chunks.size() == 1 ? chunks[0] : concat(chunks, 0), -1.0, 1.0);  // (N, C, S, S)
}

TrainedModel load_trained_model(const std::string& path, bool use_ema) {
  const SafetensorsData data = load_safetensors(path);  // validates the file format
  const auto& meta = data.metadata;
  const auto get = [&](const std::string& key) -> const std::string& {
    const auto it = meta.find(key);
    TD_CHECK(it != meta.end(), "load_trained_model",
             fmt::format("{}: not a text-to-image checkpoint (no '{}' metadata)", path, key));
    return it->second;
  };
  TD_CHECK(get("tinydiff.format") == kCheckpointFormat, "load_trained_model",
           fmt::format("{}: checkpoint format '{}' is not the supported '{}'", path, get("tinydiff.format"),
                       kCheckpointFormat));
  TD_CHECK(get("model_type") == kTextToImageModelType, "load_trained_model",
           fmt::format("{}: holds a '{}' model, not a text-to-image model", path, get("model_type")));

  TrainedModel out;
  out.config = model_config_from_json(get("config"));
  out.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_text(get("tokenizer")));
  TD_CHECK(out.tokenizer->max_length() == out.config.max_length && out.tokenizer->vocab_size() <= out.config.vocab_size,
           "load_trained_model",
           fmt::format("{}: the tokenizer ({} words, length {}) does not fit the config (vocab {}, length {})", path,
                       out.tokenizer->vocab_size(), out.tokenizer->max_length(), out.config.vocab_size,
                       out.config.max_length));
  ScheduleOptions so;
  so.num_timesteps = metadata_int(meta, "num_timesteps");
  out.schedule = make_schedule(get("schedule"), so);
  out.prediction = parse_prediction(get("prediction"));
  out.dataset = get("dataset");
  out.step = metadata_int(meta, "step");
  out.metadata = meta;

  Generator init(0);  // the weights are overwritten below
  out.model = std::make_unique<TextToImageModel>(out.config, init);
  const std::string prefix = use_ema ? "ema." : "model.";
  const NamedTensors tensors = strip_prefix(data.tensors, prefix);
  TD_CHECK(!tensors.empty(), "load_trained_model", fmt::format("{}: holds no '{}' weights", path, prefix));
  const auto problems = state_dict_problems(out.model->named_parameters(), tensors, true);
  if (!problems.empty()) {
    std::string msg = fmt::format("{}: the '{}' weights do not fit its config '{}' ({} problem{}):", path, prefix,
                                  out.config.name, problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error("load_trained_model", msg);
  }
  load_state_dict(*out.model, tensors, true);
  for (const auto& [name, p] : out.model->named_parameters())
    TD_CHECK(all_finite(p.value()), "load_trained_model",
             fmt::format("{}: weight '{}' holds non-finite values", path, name));
  return out;
}

}  // namespace tinydiff
