// Heun's 2nd-order method on the probability-flow ODE (EDM Algorithm 1); the formulas are in heun.h.
#include "diffusion/sampling/heun.h"

#include "diffusion/sampling/karras_sigmas.h"

namespace tinydiff {

Tensor heun_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& /*gen*/,
                   const HeunOptions& options) {
  check_start_noise(x_T, "heun_sample");
  const SigmaSteps s = sampling_sigmas(schedule, options.steps, options.sigmas);
  const int64_t N = static_cast<int64_t>(s.timesteps.size());
  Tensor x = scaled_from_vp(x_T.contiguous(), schedule, s.timesteps[0]);  // x: (B, ...), sigma view
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = s.timesteps[i];
    const double sigma = s.sigmas[i], sigma_next = s.sigmas[i + 1];
    Tensor x_t;
    const Tensor d = denoised(denoiser, schedule, x, t, options.clip_x0, "heun_sample", &x_t);  // D(x_i; sigma_i)
    if (options.callback) options.callback(i, t, x_t, d);
    const Tensor dx = (x - d) / sigma;                     // d_i                       (EDM Alg. 1 line 4)
    const Tensor x_euler = x + dx * (sigma_next - sigma);  // x~_{i+1}                  (line 5)
    if (sigma_next == 0.0) {                               // last step: no correction  (line 6)
      x = x_euler;
      continue;
    }
    const Tensor d2 = denoised(denoiser, schedule, x_euler, s.timesteps[i + 1], options.clip_x0, "heun_sample");
    const Tensor dx2 = (x_euler - d2) / sigma_next;         // d'_i                      (line 7)
    x = x + (dx * 0.5 + dx2 * 0.5) * (sigma_next - sigma);  // trapezoidal rule          (line 8)
  }
  return x;
}

}  // namespace tinydiff
