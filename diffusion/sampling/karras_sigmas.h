/// \file
/// \brief The \f$\sigma\f$ view of a VP (DDPM) schedule, the probability-flow ODE in it, and the noise levels the
/// ODE samplers visit: Karras et al.'s \f$\rho = 7\f$ schedule or uniform in the timestep.
///
/// ## The \f$\sigma\f$ view
/// Karras, Aittala, Aila & Laine, NeurIPS 2022,
/// "Elucidating the Design Space of Diffusion-Based Generative Models" ("EDM"), sec. 2 and table 1:
/// A DDPM sample \f$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon\f$ divided by its signal scale is
/// clean data plus noise of standard deviation \f$\sigma_t\f$:
/// \f[ x = \frac{x_t}{\sqrt{\bar\alpha_t}} = x_0 + \sigma_t\,\epsilon, \qquad
///     \sigma_t = \sqrt{\frac{1-\bar\alpha_t}{\bar\alpha_t}}, \qquad \bar\alpha_t = \frac{1}{1+\sigma_t^2}. \f]
/// In these variables the probability-flow ODE (EDM eqs. 1 and 3 with \f$s = 1\f$, \f$\sigma(t) = t\f$;
/// Song et al. 2021, "Score-Based Generative Modeling through SDEs", eq. 13) is
/// \f[ \frac{dx}{d\sigma} = \frac{x - D(x;\sigma)}{\sigma}, \f]
/// where \f$D(x;\sigma) = \hat x_0\f$ is the denoised estimate: the network is called on
/// \f$x_t = x\sqrt{\bar\alpha_t}\f$ and its output, \f$\epsilon\f$, \f$x_0\f$ or \f$v\f$, is turned into
/// \f$\hat x_0\f$ by `denoise()` (prediction.h). Solving it from \f$\sigma_{max}\f$ to 0 samples the data; the
/// samplers euler.h, heun.h and dpm_solver.h are solvers of this ODE, and DDIM with \f$\eta = 0\f$ is its Euler
/// method (ddim.h: \f$x_s/\sqrt{\bar\alpha_s} = \hat x_0 + \sigma_s\hat\epsilon\f$ is
/// \f$x + (\sigma_s - \sigma_t)(x - \hat x_0)/\sigma_t\f$).
///
/// ## From \f$\sigma\f$ back to a timestep: the \f$\sigma\f$'s live on the model's grid
/// Our networks take an integer timestep, and `denoise()` reads \f$\bar\alpha_t\f$ at an integer t, so a
/// continuous \f$\sigma\f$ cannot be passed to the model. k-diffusion's `sigma_to_t` has two answers: interpolate
/// linearly in \f$\log\sigma\f$ between the two neighbouring timesteps (a fractional t, for models that embed a real
/// t) or take the nearest one (`quantize=True`). We take the **nearest timestep in \f$\log\sigma\f$**
/// (`sigma_to_timestep`) and then use **that timestep's own \f$\sigma_t\f$** in the solver: every \f$\sigma_i\f$ of a
/// sampling schedule is snapped to the model's grid before sampling. So the solver steps exactly between the
/// noise levels the model is evaluated at, and the only effect of the snapping is a grid that is Karras's
/// up to half a timestep — rather than a model evaluated at a \f$\sigma\f$ that differs from the one the solver
/// assumes (an error that would not shrink with more steps). Snapped timesteps that coincide (Karras's
/// schedule is dense at small \f$\sigma\f$, where a 1000-step schedule is coarse in \f$\log\sigma\f$) are moved
/// apart to the next free timestep, so N steps are always N distinct model timesteps.
///
/// ## The noise levels (`sampling_sigmas`)
/// \f$\sigma_0 > \sigma_1 > \dots > \sigma_{N-1} > \sigma_N = 0\f$; the last step goes to \f$\sigma = 0\f$, i.e.
/// returns a denoised estimate.
/// - `SigmaSpacing::Karras` (EDM eq. 5, \f$\rho = 7\f$, between the model's \f$\sigma_{min} = \sigma_{t=0}\f$ and
///   \f$\sigma_{max} = \sigma_{t=T-1}\f$):
///   \f[ \sigma_i = \left(\sigma_{max}^{1/\rho} + \tfrac{i}{N-1}\left(\sigma_{min}^{1/\rho} - \sigma_{max}^{1/\rho}
///   \right)\right)^{\rho}, \quad i = 0, \dots, N-1 \f]
///   (\f$\sigma_0 = \sigma_{max}\f$ alone for N = 1), each then snapped as above.
/// - `SigmaSpacing::Uniform`: the \f$\sigma_t\f$ of the trailing timesteps (timestep_spacing.h), uniform in t and
///   starting at t = T-1 — exactly the timesteps DDIM visits by default.
///
/// Usage:
/// \code
///   SigmaSteps s = sampling_sigmas(schedule, 20, SigmaSpacing::Karras);   // 20 timesteps, 21 sigmas (last 0)
///   Tensor x = scaled_from_vp(x_T, schedule, s.timesteps[0]);             // x = x_T / sqrt(abar)
///   Tensor d = denoised(model, schedule, x, s.timesteps[0], false, "my_sampler");  // D(x; sigma_0)
///   Tensor dx = (x - d) / s.sigmas[0];                                    // dx/dsigma
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// \f$\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}\f$ for every timestep t = 0..T-1 (strictly increasing).
std::vector<double> schedule_sigmas(const NoiseSchedule& schedule);

/// The timestep whose \f$\sigma_t\f$ is nearest to `sigma` > 0 in \f$\log\sigma\f$ (k-diffusion's `sigma_to_t`
/// with `quantize=True`); values beyond the schedule's ends give 0 or T-1. Throws Error for sigma <= 0.
int64_t sigma_to_timestep(const NoiseSchedule& schedule, double sigma);

/// Karras et al.'s schedule (EDM eq. 5): `n` >= 1 values from `sigma_max` down to `sigma_min` (both > 0),
/// evenly spaced in \f$\sigma^{1/\rho}\f$, without the final 0 and not snapped. `n` = 1 gives {sigma_max}.
std::vector<double> karras_sigmas(int64_t n, double sigma_min, double sigma_max, double rho = 7.0);

/// The noise levels of an N-step ODE sampler: N model timesteps (decreasing, distinct) and their
/// \f$\sigma\f$'s followed by the final 0.
struct SigmaSteps {
  /// The model timestep of each step, \f$t_0 > \dots > t_{N-1}\f$ (0-based, schedule.h).
  std::vector<int64_t> timesteps;
  /// \f$\sigma_{t_0} > \dots > \sigma_{t_{N-1}} > 0\f$: N + 1 values, the last exactly 0.
  std::vector<double> sigmas;
};

/// The N = `steps` noise levels of `spacing` on `schedule` (see the file overview), snapped to the model's
/// timesteps. Throws Error for steps outside 1..T.
SigmaSteps sampling_sigmas(const NoiseSchedule& schedule, int64_t steps, SigmaSpacing spacing = SigmaSpacing::Karras);

/// The names `parse_sigma_spacing` accepts: "karras", "uniform".
std::vector<std::string> sigma_spacing_names();
/// The spacing named "karras" or "uniform". Throws Error listing both for another name.
SigmaSpacing parse_sigma_spacing(const std::string& name);
/// The name of a spacing: "karras" or "uniform".
std::string sigma_spacing_name(SigmaSpacing spacing);

/// \f$x = x_t/\sqrt{\bar\alpha_t}\f$: a VP sample at timestep t (B, ...) in the \f$\sigma\f$ view (B, ...).
Tensor scaled_from_vp(const Tensor& x_t, const NoiseSchedule& schedule, int64_t t);
/// \f$x_t = x\sqrt{\bar\alpha_t}\f$: the inverse of `scaled_from_vp`, (B, ...) -> (B, ...).
Tensor vp_from_scaled(const Tensor& x, const NoiseSchedule& schedule, int64_t t);

/// The denoised estimate \f$D(x;\sigma_t)\f$ = \f$\hat x_0\f$ (B, ...) for x (B, ...) in the \f$\sigma\f$ view: calls
/// the denoiser on \f$x_t = x\sqrt{\bar\alpha_t}\f$ at timestep t and reads its output with `denoise()` as
/// `denoiser.prediction()`; clipped to [-1, 1] when `clip_x0`. Stores \f$x_t\f$ in `x_t` if non-null. Errors name `op`.
Tensor denoised(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x, int64_t t, bool clip_x0,
                const char* op, Tensor* x_t = nullptr);

/// Checks a sampler's starting noise x_T (defined, floating, with a batch axis); throws Error naming `op`.
void check_start_noise(const Tensor& x_T, const char* op);

/// What every sampler on the \f$\sigma\f$ grid does before its first step: the grid, the steps [begin, end) that
/// its StepRange selects, and the start \f$x = x_T/\sqrt{\bar\alpha_{t_{begin}}}\f$ in the \f$\sigma\f$ view.
struct SigmaRun {
  SigmaSteps grid;    ///< the N-step grid (sampling_sigmas)
  int64_t begin = 0;  ///< first step taken
  int64_t end = 0;    ///< one past the last step taken (begin == end: nothing to do, return x_T)
  Tensor x;           ///< (B, ...): the start in the sigma view
};

/// Checks x_T (check_start_noise), builds the grid of `steps` and `spacing` and resolves `range` on it; errors name
/// `op`.
SigmaRun start_sigma_run(const Tensor& x_T, const NoiseSchedule& schedule, int64_t steps, SigmaSpacing spacing,
                         const StepRange& range, const char* op);

/// The sampler's result from x (B, ...) in the sigma view after step `run.end` - 1: x itself when the run reached
/// \f$\sigma = 0\f$, else back in the VP form at \f$t_{end}\f$ (so that another sampler can continue there).
Tensor finish_sigma_run(const SigmaRun& run, const Tensor& x, const NoiseSchedule& schedule);

}  // namespace tinydiff
