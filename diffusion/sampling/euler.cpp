// Euler and Euler ancestral on the probability-flow ODE; the formulas are in euler.h.
#include "diffusion/sampling/euler.h"

#include <fmt/format.h>

#include <cmath>

#include "diffusion/sampling/karras_sigmas.h"

namespace tinydiff {

std::pair<double, double> ancestral_sigmas(double sigma_from, double sigma_to, double eta) {
  const double up =
      std::min(sigma_to, eta * std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) /
                                         (sigma_from * sigma_from)));           // sigma_up
  const double down = std::sqrt(std::max(sigma_to * sigma_to - up * up, 0.0));  // sigma_down
  return {down, up};
}

Tensor euler_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& /*gen*/,
                    const EulerOptions& options) {
  const SigmaRun run = start_sigma_run(x_T, schedule, options.steps, options.sigmas, options.range, "euler_sample");
  if (run.begin == run.end) return x_T;
  Tensor x = run.x;  // x: (B, ...), sigma view
  for (int64_t i = run.begin; i < run.end; ++i) {
    const int64_t t = run.grid.timesteps[i];
    const double sigma = run.grid.sigmas[i], sigma_next = run.grid.sigmas[i + 1];
    Tensor x_t;
    const Tensor d = denoised(denoiser, schedule, x, t, options.clip_x0, "euler_sample", &x_t);  // D(x_i; sigma_i)
    if (options.callback) options.callback(i, t, x_t, d);
    const Tensor dx = (x - d) / sigma;  // d_i = (x_i - D) / sigma_i    (EDM Alg. 1 line 4)
    x = x + dx * (sigma_next - sigma);  // x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i   (line 5)
  }
  return finish_sigma_run(run, x, schedule);  // back to the VP form at t_end unless sigma reached 0
}

Tensor euler_ancestral_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T,
                              Generator& gen, const EulerAncestralOptions& options) {
  TD_CHECK(options.eta >= 0.0 && options.eta <= 1.0, "euler_ancestral_sample",
           fmt::format("eta must lie in [0, 1], got {}", options.eta));
  const SigmaRun run =
      start_sigma_run(x_T, schedule, options.steps, options.sigmas, options.range, "euler_ancestral_sample");
  if (run.begin == run.end) return x_T;
  Tensor x = run.x;  // x: (B, ...), sigma view
  for (int64_t i = run.begin; i < run.end; ++i) {
    const int64_t t = run.grid.timesteps[i];
    const double sigma = run.grid.sigmas[i], sigma_next = run.grid.sigmas[i + 1];
    Tensor x_t;
    const Tensor d = denoised(denoiser, schedule, x, t, options.clip_x0, "euler_ancestral_sample", &x_t);
    if (options.callback) options.callback(i, t, x_t, d);
    const auto [sigma_down, sigma_up] = ancestral_sigmas(sigma, sigma_next, options.eta);
    const Tensor dx = (x - d) / sigma;                                                  // d_i
    x = x + dx * (sigma_down - sigma);                                                  // Euler down to sigma_down
    if (sigma_up > 0.0) x = x + gen.normal(x.shape(), 0.0, 1.0, x.dtype()) * sigma_up;  // noise back up to sigma_{i+1}
  }
  return finish_sigma_run(run, x, schedule);  // back to the VP form at t_end unless sigma reached 0
}

}  // namespace tinydiff
