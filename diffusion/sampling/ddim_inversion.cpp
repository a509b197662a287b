// DDIM inversion (Song et al. 2021 sec. 4.3; Mokady et al. 2023); the formulas are in ddim_inversion.h.
#include "diffusion/sampling/ddim_inversion.h"

#include <fmt/format.h>

#include <cmath>

#include "diffusion/sampling/timestep_spacing.h"

namespace tinydiff {

Tensor ddim_inversion_step(const Tensor& model_output, const Tensor& x_s, int64_t s, int64_t t,
                           const NoiseSchedule& schedule, Prediction prediction) {
  check_defined(x_s, "ddim_inversion_step");
  TD_CHECK(x_s.dim() >= 1, "ddim_inversion_step", "x_s must have a batch axis, got a 0-d tensor");
  const int64_t T = schedule.num_timesteps;
  TD_CHECK(s >= -1 && s < t && t < T, "ddim_inversion_step",
           fmt::format("expected -1 <= s < t <= {}, got s = {}, t = {}", T - 1, s, t));
  const int64_t B = x_s.size(0);
  const Tensor tt = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), t), {B});  // (B) int64

  // x_s, model_output, eps, x0: (B, ...)
  const Tensor eps = denoise(model_output, x_s, tt, schedule, prediction).eps;  // eps_theta(x_s, t)
  const double abar_s = s >= 0 ? schedule.value(schedule.alpha_bar, s) : 1.0;
  const double abar_t = schedule.value(schedule.alpha_bar, t);
  const Tensor x0 = (x_s - eps * std::sqrt(1.0 - abar_s)) * (1.0 / std::sqrt(abar_s));  // x0_hat at level s
  return x0 * std::sqrt(abar_t)                                                         // sqrt(abar_t) x0_hat
         + eps * std::sqrt(1.0 - abar_t);                                               // + sqrt(1 - abar_t) eps_hat
}

Tensor ddim_invert(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x0,
                   const DdimOptions& options) {
  TD_CHECK(options.eta == 0.0, "ddim_invert",
           fmt::format("DDIM inversion inverts the deterministic sampler; expected eta = 0, got {}", options.eta));
  check_defined(x0, "ddim_invert");
  check_floating(x0, "ddim_invert");
  TD_CHECK(x0.dim() >= 1, "ddim_invert", "x0 must have a batch axis (B, ...), got a 0-d tensor");
  const std::vector<int64_t> ts = sampling_timesteps(schedule.num_timesteps, options.steps, options.spacing);
  const int64_t S = static_cast<int64_t>(ts.size());
  const auto [begin, end] = resolve_step_range(options.range, S, "ddim_invert");
  Tensor x = x0.contiguous();  // x: (B, ...), at the level after step end-1 (clean when end = S)
  for (int64_t i = end - 1; i >= begin; --i) {
    const int64_t t = ts[static_cast<size_t>(i)];
    const int64_t s = i + 1 < S ? ts[static_cast<size_t>(i + 1)] : -1;
    const Tensor out = call_denoiser(denoiser, x, t, "ddim_invert");  // the model at (x_s, t)
    Tensor next = ddim_inversion_step(out, x, s, t, schedule, denoiser.prediction());
    if (options.callback) {
      const Tensor tt = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(x.size(0)), t), {x.size(0)});
      options.callback(i, t, x, denoise(out, x, tt, schedule, denoiser.prediction()).x0);
    }
    x = std::move(next);
  }
  return x;
}

}  // namespace tinydiff
