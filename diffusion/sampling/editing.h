/// \file
/// \brief Editing with any sampler: image-to-image (SDEdit) and inpainting (RePaint), built on the step ranges
/// every sampler honours (sampler.h, "the editing contract").
///
/// **Image-to-image** (Meng et al., "SDEdit: Guided Image Synthesis and Editing with Stochastic Differential
/// Equations", ICLR 2022). A sampler of S steps on the timesteps \f$t_0 > t_1 > \dots > t_{S-1}\f$
/// (`sampler_timesteps`) runs only its last \f$\mathrm{round}(sS)\f$ steps for a strength \f$s \in [0, 1]\f$, as in
/// diffusers: it starts at step \f$k = S - \mathrm{round}(sS)\f$ from the init image \f$x_0\f$ noised to
/// \f$t_k\f$ with the forward process (DDPM eq. 4, `q_sample`):
/// \f[ x_{t_k} = \sqrt{\bar\alpha_{t_k}}\,x_0 + \sqrt{1-\bar\alpha_{t_k}}\;\epsilon, \qquad \epsilon \sim
/// \mathcal{N}(0, I). \f]
/// \f$s = 0\f$ runs no step and returns \f$x_0\f$ unchanged; \f$s = 1\f$ starts from pure noise \f$\epsilon\f$ itself
/// (not from \f$q(x_{t_0} \mid x_0)\f$, which keeps a trace of the image), so it *is* plain sampling from
/// \f$\epsilon\f$.
///
/// **Inpainting** (Lugmayr et al., "RePaint: Inpainting using Denoising Diffusion Probabilistic Models", CVPR
/// 2022, Algorithm 1 with jump length 1). With a mask \f$m\f$ (1 = generate, 0 = keep), after every reverse step
/// \f$t_i \to t_{i+1}\f$ the known pixels are replaced by the init image noised to the new level with fresh noise:
/// \f[ x_{t_{i+1}} = m \odot x^{\text{unknown}}_{t_{i+1}} + (1 - m) \odot x^{\text{known}}_{t_{i+1}}, \qquad
/// x^{\text{known}}_{t_{i+1}} = \sqrt{\bar\alpha_{t_{i+1}}}\,x_0 + \sqrt{1-\bar\alpha_{t_{i+1}}}\;z \f]
/// (after the last step \f$\bar\alpha = 1\f$: the known pixels *are* \f$x_0\f$, exactly). With `resample` R > 1 each
/// step is repeated R times: between repeats, \f$x_{t_{i+1}}\f$ is taken back to \f$t_i\f$ by the forward process,
/// \f[ q(x_{t_i} \mid x_{t_{i+1}}) = \mathcal{N}\!\left(\sqrt{\bar\alpha_{t_i}/\bar\alpha_{t_{i+1}}}\;x_{t_{i+1}},
/// \ (1 - \bar\alpha_{t_i}/\bar\alpha_{t_{i+1}})\,I\right) \f]
/// (`q_jump`; with DDPM's consecutive timesteps it is one forward step, \f$q(x_t \mid x_{t-1})\f$), so that the
/// generated part can harmonise with the known part. As in RePaint the last step is not repeated. The two combine:
/// inpainting with strength s < 1 starts from the noised init image at step k.
///
/// Inpainting drives the sampler one step at a time (`StepRange {i, i + 1}`); image-to-image alone calls it once
/// with `{k, S}`. Random numbers come from `gen` in a fixed order, so a seed gives one result.
///
/// Usage:
/// \code
///   EditOptions edit;
///   edit.init = image;          // (B, C, H, W) in [-1, 1]
///   edit.strength = 0.6;        // the last 60% of the steps
///   edit.mask = mask;           // (1, 1, H, W): 1 = generate, 0 = keep
///   edit.resample = 5;
///   Tensor out = edit_sample(denoiser, schedule, gen.normal(image.shape()), gen, opt, edit);
/// \endcode
#pragma once

#include <cstdint>

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// What to edit: the init image, how much of the sampling to redo, and which pixels to keep.
struct EditOptions {
  /// The init image \f$x_0\f$ (B, ...) in the data's scale ([-1, 1] for images). Undefined: no editing.
  Tensor init = {};
  /// SDEdit strength in [0, 1]: run the last round(strength S) of the sampler's S steps (1: all of them, from
  /// pure noise; 0: none, the init image is returned).
  double strength = 1.0;
  /// Inpainting mask broadcastable to the init image (e.g. (1, 1, H, W)): 1 = generate, 0 = keep the init
  /// image; only 0 and 1. Undefined: no inpainting.
  Tensor mask = {};
  /// RePaint's resampling: every step but the last runs `resample` times (1: once, no jumps).
  int64_t resample = 1;
};

/// The index of the first step SDEdit runs: k = S - round(strength S), for strength in [0, 1] (Error
/// otherwise) and S = `steps` >= 1. k = S runs no step, k = 0 all of them.
int64_t strength_first_step(double strength, int64_t steps);

/// The forward process from an intermediate level: a draw of \f$q(x_t \mid x_s)\f$ for timesteps s < t
/// (see the file overview), \f$\sqrt{\bar\alpha_t/\bar\alpha_s}\,x_s + \sqrt{1-\bar\alpha_t/\bar\alpha_s}\,z\f$.
/// `s` = -1 means clean data (\f$\bar\alpha = 1\f$), so it is then `q_sample`. x_s: (B, ...); noise z shaped
/// like x_s.
Tensor q_jump(const Tensor& x_s, int64_t s, int64_t t, const Tensor& noise, const NoiseSchedule& schedule);

/// Samples with the sampler of `options`, edited as `edit` says (the file overview). `noise` (B, ...) is
/// \f$\epsilon \sim \mathcal{N}(0, I)\f$: the start \f$x_T\f$ at strength 1, the noise the init image is noised
/// with otherwise. Without an init image this is `sample(denoiser, schedule, noise, gen, options)`. Throws Error
/// for a strength outside [0, 1], resample < 1, a mask without an init image, a mask with values other than
/// 0 and 1 or that does not broadcast to the init image, or an init image not shaped like `noise`.
Tensor edit_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& noise, Generator& gen,
                   const SamplerOptions& options, const EditOptions& edit);

}  // namespace tinydiff
