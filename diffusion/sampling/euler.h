/// \file
/// \brief Euler's method on the probability-flow ODE and Euler ancestral sampling, in the \f$\sigma\f$ view
/// (karras_sigmas.h). One model evaluation per step: N = `steps` evaluations.
///
/// **Euler** (Karras et al. 2022, "EDM", Algorithm 1 without churn and without the 2nd-order correction):
/// for the noise levels \f$\sigma_0 > \dots > \sigma_N = 0\f$ (`sampling_sigmas`) and
/// \f$x = x_T/\sqrt{\bar\alpha_{t_0}}\f$,
/// \f[ d_i = \frac{x_i - D(x_i;\sigma_i)}{\sigma_i}, \qquad x_{i+1} = x_i + (\sigma_{i+1} - \sigma_i)\,d_i \f]
/// (EDM Alg. 1 lines 4-5). The last step (to \f$\sigma_N = 0\f$) returns \f$D(x_{N-1};\sigma_{N-1})\f$.
/// It is first order: the error at a fixed \f$\sigma\f$ halves when the steps double. On the uniform
/// (trailing) timesteps it is exactly DDIM with \f$\eta = 0\f$ (ddim.h).
///
/// **Euler ancestral** (k-diffusion's `sample_euler_ancestral` with its `get_ancestral_step`): each step goes
/// down to \f$\sigma_{down} < \sigma_{i+1}\f$ with Euler and adds fresh noise back up to \f$\sigma_{i+1}\f$:
/// \f[ \sigma_{up} = \min\!\left(\sigma_{i+1},\ \eta\,\sqrt{\frac{\sigma_{i+1}^2(\sigma_i^2 - \sigma_{i+1}^2)}
///     {\sigma_i^2}}\right), \quad \sigma_{down} = \sqrt{\sigma_{i+1}^2 - \sigma_{up}^2}, \f]
/// \f[ x_{i+1} = x_i + (\sigma_{down} - \sigma_i)\,d_i + \sigma_{up}\,z, \qquad z \sim \mathcal{N}(0, I). \f]
/// With \f$\eta = 1\f$, \f$\sigma_{down} = \sigma_{i+1}^2/\sigma_i\f$ and the step draws from the forward
/// process's posterior \f$q(x_{i+1} \mid x_i, \hat x_0)\f$ in the \f$\sigma\f$ view: it is DDIM's step with
/// \f$\eta = 1\f$ (DDPM's \f$\tilde\beta\f$ variance). With \f$\eta = 0\f$ it is Euler. The last step adds no noise.
///
/// Usage:
/// \code
///   EulerOptions opt;
///   opt.steps = 20; opt.sigmas = SigmaSpacing::Karras;
///   Tensor x0 = euler_sample(model, schedule, gen.normal({B, 2}), gen, opt);      // 20 model calls
///   EulerAncestralOptions a;  a.steps = 30;
///   Tensor y0 = euler_ancestral_sample(model, schedule, gen.normal({B, 2}), gen, a);
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// Euler's method on the probability-flow ODE from `x_T` (B, ...) (a VP sample at the first timestep, usually
/// \f$\mathcal{N}(0, I)\f$) in `options.steps` steps (1..T) on the `options.sigmas` noise levels, with
/// `options.clip_x0` and `options.callback`. Deterministic (`gen` is not used). Returns \f$x_0\f$ (B, ...).
/// Throws Error for steps outside 1..T or a denoiser output that is not shaped like x_T.
Tensor euler_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                    const EulerOptions& options = {});

/// Euler ancestral sampling from `x_T` (B, ...) in `options.steps` steps (1..T) with \f$\eta\f$ = `options.eta`
/// in [0, 1]; noise is drawn from `gen` in x_T's dtype. Returns \f$x_0\f$ (B, ...). Throws Error for steps outside
/// 1..T, eta outside [0, 1] or a denoiser output that is not shaped like x_T.
Tensor euler_ancestral_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T,
                              Generator& gen, const EulerAncestralOptions& options = {});

/// k-diffusion's ancestral split of a step from `sigma_from` to `sigma_to` (see the file overview):
/// returns \f$(\sigma_{down}, \sigma_{up})\f$ with \f$\sigma_{down}^2 + \sigma_{up}^2 = \sigma_{to}^2\f$.
std::pair<double, double> ancestral_sigmas(double sigma_from, double sigma_to, double eta = 1.0);

}  // namespace tinydiff
