/// \file
/// \brief Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, "EDM", Algorithm 1 with
/// \f$S_{churn} = 0\f$), in the \f$\sigma\f$ view (karras_sigmas.h).
///
/// For the noise levels \f$\sigma_0 > \dots > \sigma_N = 0\f$ (`sampling_sigmas`) and
/// \f$x_0 = x_T/\sqrt{\bar\alpha_{t_0}}\f$, each step takes an Euler step and then corrects it with the slope at
/// its end (the trapezoidal rule, EDM Alg. 1 lines 4-8):
/// \f[ d_i = \frac{x_i - D(x_i;\sigma_i)}{\sigma_i}, \qquad \tilde x_{i+1} = x_i + (\sigma_{i+1} - \sigma_i)\,d_i, \f]
/// \f[ d_i' = \frac{\tilde x_{i+1} - D(\tilde x_{i+1};\sigma_{i+1})}{\sigma_{i+1}}, \qquad
///     x_{i+1} = x_i + (\sigma_{i+1} - \sigma_i)\left(\tfrac12 d_i + \tfrac12 d_i'\right). \f]
/// The last step, to \f$\sigma_N = 0\f$, has no correction (\f$d'\f$ would divide by 0): it is an Euler step and
/// returns \f$D(x_{N-1};\sigma_{N-1})\f$.
///
/// **Model evaluations:** 2 per step except the last, so NFE = 2N - 1 for N = `steps` (20 steps: 39
/// evaluations). `steps` counts steps, not evaluations; to compare with a 1-evaluation-per-step sampler at equal
/// cost, give Heun about half the steps. The method is second order: the error at a fixed \f$\sigma\f$ falls about
/// fourfold when the steps double.
///
/// Usage:
/// \code
///   HeunOptions opt;
///   opt.steps = 10;                                                              // 19 model calls
///   Tensor x0 = heun_sample(model, schedule, gen.normal({B, 2}), gen, opt);
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// Heun's method on the probability-flow ODE from `x_T` (B, ...) in `options.steps` steps (1..T), 2 steps - 1
/// model evaluations, on the `options.sigmas` noise levels, with `options.clip_x0` and `options.callback`
/// (called once per step, at its first evaluation). Deterministic (`gen` is not used). Returns \f$x_0\f$
/// (B, ...). Throws Error for steps outside 1..T or a denoiser output that is not shaped like x_T.
Tensor heun_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                   const HeunOptions& options = {});

}  // namespace tinydiff
