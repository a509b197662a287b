// DDIM sampling (Song et al. 2021, eqs. 12 and 16); the formulas are in ddim.h.
#include "diffusion/sampling/ddim.h"

#include <fmt/format.h>

#include <cmath>

#include "diffusion/sampling/timestep_spacing.h"

namespace tinydiff {

namespace {

void check_eta(double eta, const char* op) {
  TD_CHECK(eta >= 0.0 && eta <= 1.0, op, fmt::format("eta must lie in [0, 1], got {}", eta));
}

}  // namespace

Tensor ddim_step(const Tensor& model_output, const Tensor& x_t, int64_t t, int64_t t_next,
                 const NoiseSchedule& schedule, Generator& gen, const DdimOptions& options, Prediction prediction,
                 Tensor* x0_pred) {
  check_eta(options.eta, "ddim_step");
  check_defined(x_t, "ddim_step");
  TD_CHECK(x_t.dim() >= 1, "ddim_step", "x_t must have a batch axis, got a 0-d tensor");
  const int64_t T = schedule.num_timesteps;
  TD_CHECK(t >= 0 && t < T, "ddim_step", fmt::format("timestep {} is out of range; expected 0 <= t <= {}", t, T - 1));
  TD_CHECK(t_next >= -1 && t_next < t, "ddim_step",
           fmt::format("next timestep {} must satisfy -1 <= t_next < t = {}", t_next, t));
  const int64_t B = x_t.size(0);
  const Tensor tt = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), t), {B});  // (B) int64

  // x_t, model_output, x0, eps: (B, ...)
  Denoised d = denoise(model_output, x_t, tt, schedule, prediction);
  if (options.clip_x0) {
    d.x0 = clamp(d.x0, -1.0, 1.0);
    d.eps = eps_from_x0(x_t, d.x0, tt, schedule);  // keep (x0, eps) consistent with x_t
  }
  if (x0_pred != nullptr) *x0_pred = d.x0;

  // Scalars in float64: abar_t, abar_s (1 after the last step), sigma_t (eq. 16).
  const double abar_t = schedule.value(schedule.alpha_bar, t);
  const double abar_s = t_next >= 0 ? schedule.value(schedule.alpha_bar, t_next) : 1.0;
  const double sigma = options.eta * std::sqrt((1.0 - abar_s) / (1.0 - abar_t)) * std::sqrt(1.0 - abar_t / abar_s);
  const double dir = std::sqrt(std::max(1.0 - abar_s - sigma * sigma, 0.0));  // weight of eps ("direction to x_t")
  Tensor x = d.x0 * std::sqrt(abar_s) + d.eps * dir;
  if (sigma > 0.0) x = x + gen.normal(x_t.shape(), 0.0, 1.0, x_t.dtype()) * sigma;
  return x;
}

Tensor ddim_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                   const DdimOptions& options) {
  check_eta(options.eta, "ddim_sample");
  check_defined(x_T, "ddim_sample");
  check_floating(x_T, "ddim_sample");
  TD_CHECK(x_T.dim() >= 1, "ddim_sample", "x_T must have a batch axis (B, ...), got a 0-d tensor");
  const std::vector<int64_t> ts = sampling_timesteps(schedule.num_timesteps, options.steps, options.spacing);
  Tensor x = x_T.contiguous();  // x: (B, ...), at timestep ts[begin] (sampler.h, the editing contract)
  const int64_t S = static_cast<int64_t>(ts.size());
  const auto [begin, end] = resolve_step_range(options.range, S, "ddim_sample");
  for (int64_t i = begin; i < end; ++i) {
    const int64_t t = ts[i];
    const int64_t t_next = i + 1 < S ? ts[i + 1] : -1;
    const Tensor out = call_denoiser(denoiser, x, t, "ddim_sample");
    Tensor x0;
    Tensor next = ddim_step(out, x, t, t_next, schedule, gen, options, denoiser.prediction(), &x0);
    if (options.callback) options.callback(i, t, x, x0);
    x = std::move(next);
  }
  return x;
}

}  // namespace tinydiff
