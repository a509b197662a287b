// DDPM ancestral sampling (Ho et al. 2020, Algorithm 2); the formulas are in ddpm.h.
#include "diffusion/sampling/ddpm.h"

#include <fmt/format.h>

#include <cmath>

#include "diffusion/process/forward_process.h"

namespace tinydiff {

Tensor ddpm_step(const Tensor& model_output, const Tensor& x_t, int64_t t, const NoiseSchedule& schedule,
                 Generator& gen, const DdpmOptions& options, Prediction prediction, Tensor* x0_pred) {
  check_defined(x_t, "ddpm_step");
  TD_CHECK(x_t.dim() >= 1, "ddpm_step", "x_t must have a batch axis, got a 0-d tensor");
  const int64_t B = x_t.size(0);
  TD_CHECK(t >= 0 && t < schedule.num_timesteps, "ddpm_step",
           fmt::format("timestep {} is out of range; expected 0 <= t <= {}", t, schedule.num_timesteps - 1));
  const Tensor tt = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), t), {B});  // (B) int64

  // x_t, model_output, x0: (B, ...)
  Tensor x0 = denoise(model_output, x_t, tt, schedule, prediction).x0;
  if (options.clip_x0) x0 = clamp(x0, -1.0, 1.0);
  if (x0_pred != nullptr) *x0_pred = x0;
  Tensor mean = q_posterior_mean(x0, x_t, tt, schedule);
  if (t == 0) return mean;  // no noise at the last step: the posterior mean at t = 0 is x0 itself
  const double var = options.variance == DdpmVariance::Beta ? schedule.value(schedule.betas, t)
                                                            : schedule.value(schedule.posterior_variance, t);
  const Tensor z = gen.normal(x_t.shape(), 0.0, 1.0, x_t.dtype());
  return mean + z * std::sqrt(var);
}

Tensor ddpm_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                   const DdpmOptions& options) {
  check_defined(x_T, "ddpm_sample");
  check_floating(x_T, "ddpm_sample");
  TD_CHECK(x_T.dim() >= 1, "ddpm_sample", "x_T must have a batch axis (B, ...), got a 0-d tensor");
  Tensor x = x_T.contiguous();  // x: (B, ...), at timestep T-1-begin (sampler.h, the editing contract)
  const int64_t T = schedule.num_timesteps;
  const auto [begin, end] = resolve_step_range(options.range, T, "ddpm_sample");
  for (int64_t step = begin; step < end; ++step) {
    const int64_t t = T - 1 - step;
    const Tensor out = call_denoiser(denoiser, x, t, "ddpm_sample");
    Tensor x0;
    Tensor next = ddpm_step(out, x, t, schedule, gen, options, denoiser.prediction(), &x0);
    if (options.callback) options.callback(step, t, x, x0);
    x = std::move(next);
  }
  return x;
}

}  // namespace tinydiff
