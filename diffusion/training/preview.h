/// \file
/// \brief The trainer's sample grids: images of the data set's preview prompts from fixed noise,
/// so that grids of successive steps show the same draws as the model learns.
///
/// Prompt \f$p\f$'s \f$j\f$-th sample lands at row \f$j\f$, column \f$p\f$ of the grid. The initial noise
/// \f$x_T\f$ and the sampler's own noise come from generators seeded with `noise_seed` and
/// `sampler_seed`, so a grid depends only on the weights. The images are drawn by `generate_images`
/// (DDIM, `steps` steps, classifier-free guidance) with the model's prediction type.
///
/// Usage (the trainer swaps in the EMA weights first):
/// \code
///   PreviewOptions p{.per_prompt = 4, .steps = 25, .guidance = 3.0};
///   Tensor images = preview_images(model, tokenizer, schedule, data.preview_prompts(), p);  // (4 P, C, S, S)
///   write_preview_grid("runs/x/samples/step_000500.png", images, P);
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/models/text_to_image.h"
#include "diffusion/models/tokenizer.h"
#include "diffusion/process/prediction.h"
#include "diffusion/process/schedule.h"

namespace tinydiff {

/// How a preview grid is drawn.
struct PreviewOptions {
  int64_t per_prompt = 4;     ///< samples per prompt (rows of the grid)
  int64_t steps = 25;         ///< DDIM steps
  double guidance = 3.0;      ///< classifier-free guidance scale
  uint64_t noise_seed = 0;    ///< seeds the initial noise x_T
  uint64_t sampler_seed = 0;  ///< seeds the sampler's noise
};

/// The preview images, (per_prompt P, C, S, S) for P prompts: row j of the grid holds sample j of
/// every prompt. Uses the model's current weights.
Tensor preview_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                      const std::vector<std::string>& prompts, const PreviewOptions& options);

/// Writes `images` (N, C, S, S) as a PNG grid of `columns` columns, enlarged twice, to `path`.
void write_preview_grid(const std::string& path, const Tensor& images, int64_t columns);

}  // namespace tinydiff
