/// \file
/// \brief From images back to noise: `invert_images` runs DDIM inversion (sampling/ddim_inversion.h) with the
/// text-conditioned U-Net, so that `generate_images` from the result redraws the images — or, with another prompt,
/// edits them while keeping their layout.
///
/// DDIM with \f$\eta = 0\f$ is a deterministic map \f$x_T \mapsto x_0\f$ (Song et al. 2021, sec. 4.3); inversion
/// integrates the same ODE in the direction of increasing t,
/// \f[ x_t = \sqrt{\bar\alpha_t}\,\frac{x_s - \sqrt{1-\bar\alpha_s}\,\hat\epsilon}{\sqrt{\bar\alpha_s}}
///         + \sqrt{1-\bar\alpha_t}\;\hat\epsilon, \qquad \hat\epsilon = \tilde\epsilon_\theta(x_s, t, c), \f]
/// over the timesteps `generate_images` with `image_sampler_options(SamplerKind::Ddim, steps)` visits (trailing),
/// where \f$\tilde\epsilon_\theta\f$ is the guided U-Net (`guided_denoiser`). The round trip is exact only as the
/// steps \f$\to \infty\f$ and at guidance 1; guided inversion (w > 1) drifts (Mokady et al., "Null-text Inversion
/// for Editing Real Images using Guided Diffusion Models", CVPR 2023). Neither the inversion nor the sampler that
/// undoes it (`inversion_sampler_options`) clips \f$\hat x_0\f$: clipping changes the ODE, and a weakly trained model's
/// \f$\hat x_0\f$ at high noise lies far outside [-1, 1] (|x0| ~ 180 measured after 24 training steps), so a clipped
/// sampler does not return to the image however many steps it takes (RMSE 0.31, 0.33, 0.34 in [0, 1] units at
/// 10, 50, 200 steps, against 0.28, 0.11, 0.04 unclipped, on that model).
///
/// Usage:
/// \code
///   TrainedModel m = load_trained_model("run/checkpoint.safetensors");
///   Tensor image = load_png("bag.png").unsqueeze(0);                                    // (1, C, S, S)
///   InvertOptions inv;                                                                   // 50 steps, guidance 1
///   Tensor x_T = invert_images(*m.model, *m.tokenizer, m.schedule, {"a bag"}, image, inv);
///   GenerateOptions g;
///   g.sampler = inversion_sampler_options(inv.steps);                                   // DDIM, no clipping
///   g.guidance = inv.guidance;
///   Generator gen(0);
///   Tensor back = generate_images(*m.model, *m.tokenizer, m.schedule, {"a bag"}, x_T, gen, g);      // ~ image
///   Tensor edit = generate_images(*m.model, *m.tokenizer, m.schedule, {"a shoe"}, x_T, gen, g);     // same layout
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/models/generate.h"

namespace tinydiff {

/// Options of invert_images.
struct InvertOptions {
  /// DDIM steps (1..T), on the trailing timesteps, as `image_sampler_options(SamplerKind::Ddim, steps)`.
  int64_t steps = 50;
  /// \f$w\f$ of classifier-free guidance during inversion; 1 (no guidance) inverts most faithfully.
  double guidance = 1.0;
  /// Images per chunk.
  int64_t batch = 64;
};

/// The sampler that undoes `invert_images` with `steps` steps: DDIM, eta 0, trailing spacing, \f$\hat x_0\f$ not
/// clipped (see the file overview). Use it for `generate_images` from inverted noise.
SamplerOptions inversion_sampler_options(int64_t steps);

/// DDIM inversion of `images` (N, C, S, S) in [-1, 1], N = prompts.size(), under their prompts: returns the noise
/// \f$x_T\f$ (N, C, S, S) from which `generate_images` with `inversion_sampler_options(options.steps)` and the same
/// guidance redraws them. Runs without recording a graph. Throws Error when the shapes or the options do not fit the
/// model.
Tensor invert_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                     const std::vector<std::string>& prompts, const Tensor& images, const InvertOptions& options);

}  // namespace tinydiff
