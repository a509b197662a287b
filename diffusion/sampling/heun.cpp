// Heun's 2nd-order method on the probability-flow ODE (EDM Algorithm 1); the formulas are in heun.h.
#include "diffusion/sampling/heun.h"

#include "diffusion/sampling/karras_sigmas.h"

namespace tinydiff {

Tensor heun_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& /*gen*/,
                   const HeunOptions& options) {
  const SigmaRun run = start_sigma_run(x_T, schedule, options.steps, options.sigmas, options.range, "heun_sample");
  if (run.begin == run.end) return x_T;
  Tensor x = run.x;  // x: (B, ...), sigma view
  for (int64_t i = run.begin; i < run.end; ++i) {
    const int64_t t = run.grid.timesteps[i];
    const double sigma = run.grid.sigmas[i], sigma_next = run.grid.sigmas[i + 1];
    Tensor x_t;
    const Tensor d = denoised(denoiser, schedule, x, t, options.clip_x0, "heun_sample", &x_t);  // D(x_i; sigma_i)
    if (options.callback) options.callback(i, t, x_t, d);
    const Tensor dx = (x - d) / sigma;                     // d_i                       (EDM Alg. 1 line 4)
    const Tensor x_euler = x + dx * (sigma_next - sigma);  // x~_{i+1}                  (line 5)
    if (sigma_next == 0.0) {                               // last step: no correction  (line 6)
      x = x_euler;
      continue;
    }
    const Tensor d2 = denoised(denoiser, schedule, x_euler, run.grid.timesteps[i + 1], options.clip_x0, "heun_sample");
    const Tensor dx2 = (x_euler - d2) / sigma_next;         // d'_i                      (line 7)
    x = x + (dx * 0.5 + dx2 * 0.5) * (sigma_next - sigma);  // trapezoidal rule          (line 8)
  }
  return finish_sigma_run(run, x, schedule);  // back to the VP form at t_end unless sigma reached 0
}

}  // namespace tinydiff
