// The sigma view of a VP schedule and the noise levels of the ODE samplers (see karras_sigmas.h).
#include "diffusion/sampling/karras_sigmas.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace tinydiff {

std::vector<double> schedule_sigmas(const NoiseSchedule& schedule) {
  const std::vector<double> abar = schedule.alpha_bar.to_vector();  // (T)
  std::vector<double> sigmas(abar.size());
  for (size_t t = 0; t < abar.size(); ++t) sigmas[t] = std::sqrt((1.0 - abar[t]) / abar[t]);  // sigma_t
  return sigmas;
}

namespace {

// Nearest timestep in log sigma, given the increasing sigmas of the schedule.
int64_t nearest_timestep(const std::vector<double>& sigmas, double sigma) {
  const auto it = std::lower_bound(sigmas.begin(), sigmas.end(), sigma);  // first sigma_t >= sigma
  if (it == sigmas.begin()) return 0;
  if (it == sigmas.end()) return static_cast<int64_t>(sigmas.size()) - 1;
  const int64_t hi = it - sigmas.begin(), lo = hi - 1;
  const double log_s = std::log(sigma);
  return log_s - std::log(sigmas[lo]) <= std::log(sigmas[hi]) - log_s ? lo : hi;
}

}  // namespace

int64_t sigma_to_timestep(const NoiseSchedule& schedule, double sigma) {
  TD_CHECK(sigma > 0.0 && std::isfinite(sigma), "sigma_to_timestep",
           fmt::format("sigma must be a finite number > 0, got {}", sigma));
  return nearest_timestep(schedule_sigmas(schedule), sigma);
}

std::vector<double> karras_sigmas(int64_t n, double sigma_min, double sigma_max, double rho) {
  TD_CHECK(n >= 1, "karras_sigmas", fmt::format("need at least one sigma, got n = {}", n));
  TD_CHECK(sigma_min > 0.0 && sigma_max >= sigma_min && rho > 0.0, "karras_sigmas",
           fmt::format("expected 0 < sigma_min <= sigma_max and rho > 0, got sigma_min {}, sigma_max {}, rho {}",
                       sigma_min, sigma_max, rho));
  const double a = std::pow(sigma_max, 1.0 / rho), b = std::pow(sigma_min, 1.0 / rho);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double u = n == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n - 1);
    out[i] = std::pow(a + u * (b - a), rho);  // EDM eq. 5
  }
  return out;
}

SigmaSteps sampling_sigmas(const NoiseSchedule& schedule, int64_t steps, SigmaSpacing spacing) {
  const int64_t T = schedule.num_timesteps;
  TD_CHECK(steps >= 1 && steps <= T, "sampling_sigmas",
           fmt::format("steps must be 1..{} (the schedule's timesteps), got {}", T, steps));
  const std::vector<double> sig = schedule_sigmas(schedule);  // (T), increasing
  SigmaSteps out;
  if (spacing == SigmaSpacing::Uniform) {
    out.timesteps = sampling_timesteps(T, steps, TimestepSpacing::Trailing);
  } else {
    const std::vector<double> k = karras_sigmas(steps, sig.front(), sig.back());
    std::vector<int64_t>& ts = out.timesteps;
    ts.resize(static_cast<size_t>(steps));
    for (int64_t i = 0; i < steps; ++i)  // snap, keeping room for a strictly decreasing sequence in 0..T-1
      ts[i] = std::clamp(nearest_timestep(sig, k[i]), steps - 1 - i, T - 1 - i);
    for (int64_t i = steps - 2; i >= 0; --i) ts[i] = std::max(ts[i], ts[i + 1] + 1);  // move coinciding ones apart
  }
  for (int64_t t : out.timesteps) out.sigmas.push_back(sig[t]);
  out.sigmas.push_back(0.0);  // the last step goes to clean data
  return out;
}

std::vector<std::string> sigma_spacing_names() { return {"karras", "uniform"}; }

SigmaSpacing parse_sigma_spacing(const std::string& name) {
  if (name == "karras") return SigmaSpacing::Karras;
  if (name == "uniform") return SigmaSpacing::Uniform;
  throw Error("parse_sigma_spacing", fmt::format("unknown sigma spacing '{}'; expected one of: {}", name,
                                                 fmt::join(sigma_spacing_names(), ", ")));
}

std::string sigma_spacing_name(SigmaSpacing spacing) { return spacing == SigmaSpacing::Karras ? "karras" : "uniform"; }

Tensor scaled_from_vp(const Tensor& x_t, const NoiseSchedule& schedule, int64_t t) {
  return x_t / std::sqrt(schedule.value(schedule.alpha_bar, t));  // x = x_t / sqrt(abar_t)
}

Tensor vp_from_scaled(const Tensor& x, const NoiseSchedule& schedule, int64_t t) {
  return x * std::sqrt(schedule.value(schedule.alpha_bar, t));  // x_t = x sqrt(abar_t)
}

Tensor denoised(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x, int64_t t, bool clip_x0,
                const char* op, Tensor* x_t) {
  const Tensor xt = vp_from_scaled(x, schedule, t);  // (B, ...)
  const Tensor out = call_denoiser(denoiser, xt, t, op);
  const int64_t B = x.size(0);
  const Tensor tt = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), t), {B});  // (B) int64
  Tensor d = denoise(out, xt, tt, schedule, denoiser.prediction()).x0;                           // (B, ...)
  if (clip_x0) d = clamp(d, -1.0, 1.0);
  if (x_t != nullptr) *x_t = xt;
  return d;
}

void check_start_noise(const Tensor& x_T, const char* op) {
  check_defined(x_T, op);
  check_floating(x_T, op);
  TD_CHECK(x_T.dim() >= 1, op, "x_T must have a batch axis (B, ...), got a 0-d tensor");
}

SigmaRun start_sigma_run(const Tensor& x_T, const NoiseSchedule& schedule, int64_t steps, SigmaSpacing spacing,
                         const StepRange& range, const char* op) {
  check_start_noise(x_T, op);
  SigmaRun run;
  run.grid = sampling_sigmas(schedule, steps, spacing);
  const auto [begin, end] = resolve_step_range(range, static_cast<int64_t>(run.grid.timesteps.size()), op);
  run.begin = begin;
  run.end = end;
  if (begin < end) run.x = scaled_from_vp(x_T.contiguous(), schedule, run.grid.timesteps[begin]);  // (B, ...)
  return run;
}

Tensor finish_sigma_run(const SigmaRun& run, const Tensor& x, const NoiseSchedule& schedule) {
  const int64_t N = static_cast<int64_t>(run.grid.timesteps.size());
  return run.end == N ? x : vp_from_scaled(x, schedule, run.grid.timesteps[run.end]);  // VP form at t_end
}

}  // namespace tinydiff
