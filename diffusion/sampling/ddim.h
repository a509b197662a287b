/// \file
/// \brief DDIM sampling (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021).
///
/// DDIM samples with the same trained network as DDPM but on a subsequence
/// \f$\tau_1 > \tau_2 > \dots > \tau_S\f$ of the timesteps (see `sampling_timesteps` in timestep_spacing.h), with a
/// family of reverse processes indexed by \f$\eta\f$. With \f$t = \tau_i\f$, \f$s = \tau_{i+1}\f$ the next
/// (less noisy) timestep and \f$\bar\alpha_s = 1\f$ after the last step (eq. 12):
/// \f[ x_s = \sqrt{\bar\alpha_s}\,\hat x_0
///         + \sqrt{1 - \bar\alpha_s - \sigma_t^2}\;\hat\epsilon
///         + \sigma_t z, \qquad z \sim \mathcal{N}(0, I), \f]
/// \f[ \sigma_t = \eta\,\sqrt{\frac{1-\bar\alpha_s}{1-\bar\alpha_t}}\,\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_s}} \f]
/// (eq. 16), where \f$\hat x_0\f$ and \f$\hat\epsilon\f$ come from the model output (prediction.h). \f$\eta = 0\f$ is
/// deterministic — the sample is a fixed function of \f$x_T\f$, an ODE discretisation — and \f$\eta = 1\f$ with
/// all T steps is DDPM with \f$\sigma_t^2 = \tilde\beta_t\f$. When `clip_x0` is set, \f$\hat x_0\f$ is clipped to [-1,
/// 1] and \f$\hat\epsilon\f$ recomputed from the clipped \f$\hat x_0\f$ so that the two stay consistent with \f$x_t\f$
/// (as in the improved-DDPM code). The last step returns \f$\hat x_0\f$ (since \f$\bar\alpha_s = 1\f$).
///
/// Usage:
/// \code
///   DdimOptions opt;
///   opt.steps = 50; opt.eta = 0.0; opt.spacing = TimestepSpacing::Trailing;
///   Tensor x0 = ddim_sample(model, schedule, gen.normal({B, 2}), gen, opt);   // 50 model calls
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// DDIM sampling from `x_T` (B, ...) in `options.steps` steps (1..T) on the `options.spacing` timesteps,
/// with `options.eta` in [0, 1], `options.clip_x0` and `options.callback`, reading the model output as
/// `denoiser.prediction()`. Noise (only when eta > 0) is drawn from `gen` in x_T's dtype. Returns \f$x_0\f$
/// (B, ...). With `options.range` (the editing contract, sampler.h) it runs only those steps: `x_T` is then x at
/// the timestep of step `range.begin`, and the result x at the timestep of step `range.end`. Throws Error for steps
/// outside 1..T, eta outside [0, 1], or a denoiser output that is not shaped like x_T.
Tensor ddim_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                   const DdimOptions& options = {});

/// One DDIM update (eq. 12) from timestep `t` to `t_next` (`t_next` = -1 means "to clean data",
/// \f$\bar\alpha = 1\f$), given the model output at (x_t, t) of a model predicting `prediction`. Uses
/// `options.eta` and `options.clip_x0`. Stores the used \f$\hat x_0\f$ in `x0_pred` if non-null.
Tensor ddim_step(const Tensor& model_output, const Tensor& x_t, int64_t t, int64_t t_next,
                 const NoiseSchedule& schedule, Generator& gen, const DdimOptions& options = {},
                 Prediction prediction = Prediction::Epsilon, Tensor* x0_pred = nullptr);

}  // namespace tinydiff
