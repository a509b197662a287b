// The trainer's sample grids. See preview.h.
#include "diffusion/training/preview.h"

#include "diffusion/data/image_io.h"
#include "diffusion/models/generate.h"

namespace tinydiff {

Tensor preview_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                      const std::vector<std::string>& prompts, const PreviewOptions& p) {
  const int64_t k = p.per_prompt, P = static_cast<int64_t>(prompts.size());
  std::vector<std::string> all;  // row j holds sample j of every prompt
  for (int64_t j = 0; j < k; ++j) all.insert(all.end(), prompts.begin(), prompts.end());
  const ModelConfig& c = model.config();
  Generator noise_gen(p.noise_seed);
  const Tensor x_T = noise_gen.normal({k * P, c.image_channels, c.image_size, c.image_size});  // (k P, C, S, S)
  Generator sampler_gen(p.sampler_seed);
  GenerateOptions g;
  g.sampler = image_sampler_options(SamplerKind::Ddim, p.steps);  // reads the output as model.prediction()
  g.guidance = p.guidance;
  return generate_images(model, tokenizer, schedule, all, x_T, sampler_gen, g);
}

void write_preview_grid(const std::string& path, const Tensor& images, int64_t columns) {
  save_png(path, enlarge(make_grid(images, columns), 2));
}

}  // namespace tinydiff
