// DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2); the formulas are in dpm_solver.h.
#include "diffusion/sampling/dpm_solver.h"

#include <cmath>

#include "diffusion/sampling/karras_sigmas.h"

namespace tinydiff {

Tensor dpm_solver_2m_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T,
                            Generator& /*gen*/, const DpmSolverOptions& options) {
  const SigmaRun run =
      start_sigma_run(x_T, schedule, options.steps, options.sigmas, options.range, "dpm_solver_2m_sample");
  if (run.begin == run.end) return x_T;
  Tensor x = run.x;     // x: (B, ...), sigma view
  Tensor d_prev;        // D_{i-1}: (B, ...)
  double h_prev = 0.0;  // h_{i-1}
  for (int64_t i = run.begin; i < run.end; ++i) {
    const int64_t t = run.grid.timesteps[i];
    const double sigma = run.grid.sigmas[i], sigma_next = run.grid.sigmas[i + 1];
    Tensor x_t;
    const Tensor d = denoised(denoiser, schedule, x, t, options.clip_x0, "dpm_solver_2m_sample", &x_t);  // D_i
    if (options.callback) options.callback(i, t, x_t, d);
    if (sigma_next == 0.0) {  // last step to lambda = infinity: first order, x_N = D_{N-1}
      x = d;
      continue;
    }
    const double h = std::log(sigma) - std::log(sigma_next);  // h_i = lambda_{i+1} - lambda_i, lambda = -log sigma
    Tensor d_hat = d;                                         // first step (of the range): DPM-Solver++(1) (eq. 10)
    if (i > run.begin) {
      const double r = h_prev / h;                                       // r_i = h_{i-1} / h_i
      d_hat = d * (1.0 + 1.0 / (2.0 * r)) - d_prev * (1.0 / (2.0 * r));  // D^_i (Alg. 2)
    }
    x = x * (sigma_next / sigma) - d_hat * std::expm1(-h);  // x_{i+1} = (s_{i+1}/s_i) x_i - (e^{-h} - 1) D^_i
    d_prev = d;
    h_prev = h;
  }
  return finish_sigma_run(run, x, schedule);  // back to the VP form at t_end unless sigma reached 0
}

}  // namespace tinydiff
