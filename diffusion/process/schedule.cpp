// Noise schedules: the named beta sequences and the float64 coefficients derived from them.
// The formulas are in schedule.h; tools/schedule_reference.py recomputes them independently.
#include "diffusion/process/schedule.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <numbers>

namespace tinydiff {

namespace {

/// i / (T - 1) for i in [0, T): the linspace(0, 1, T) that the linear-type schedules interpolate along.
double fraction(int64_t i, int64_t T) { return static_cast<double>(i) / static_cast<double>(T - 1); }

Tensor to_tensor(const std::vector<double>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, DType::F64);
}

}  // namespace

std::vector<std::string> schedule_names() { return {"linear", "cosine", "scaled_linear", "sigmoid"}; }

std::vector<double> schedule_betas(const std::string& name, const ScheduleOptions& options) {
  const int64_t T = options.num_timesteps;
  TD_CHECK(T >= 2, "make_schedule", fmt::format("num_timesteps must be >= 2, got {}", T));
  std::vector<double> betas(static_cast<size_t>(T));
  if (name == "linear") {
    // Ho et al. 2020, sec. 4: beta linear from 1e-4 to 0.02.
    const double b0 = options.beta_start.value_or(1e-4), b1 = options.beta_end.value_or(0.02);
    for (int64_t i = 0; i < T; ++i) betas[i] = b0 + (b1 - b0) * fraction(i, T);
  } else if (name == "scaled_linear") {
    // Stable Diffusion: linear in sqrt(beta) from sqrt(0.00085) to sqrt(0.012), then squared.
    const double r0 = std::sqrt(options.beta_start.value_or(0.00085));
    const double r1 = std::sqrt(options.beta_end.value_or(0.012));
    for (int64_t i = 0; i < T; ++i) {
      const double r = r0 + (r1 - r0) * fraction(i, T);
      betas[i] = r * r;
    }
  } else if (name == "sigmoid") {
    // GeoDiff (Xu et al. 2022): beta = b0 + (b1 - b0) * sigmoid(linspace(-6, 6, T)).
    const double b0 = options.beta_start.value_or(1e-4), b1 = options.beta_end.value_or(0.02);
    for (int64_t i = 0; i < T; ++i) {
      const double u = -6.0 + 12.0 * fraction(i, T);
      betas[i] = b0 + (b1 - b0) / (1.0 + std::exp(-u));
    }
  } else if (name == "cosine") {
    // Nichol & Dhariwal 2021, eq. 17: alpha_bar(u) = f(u) / f(0), f(u) = cos^2((u + s) / (1 + s) * pi / 2);
    // beta_i = 1 - alpha_bar((i+1)/T) / alpha_bar(i/T), clipped at max_beta.
    const double s = options.cosine_s;
    TD_CHECK(s >= 0.0, "make_schedule", fmt::format("cosine_s must be >= 0, got {}", s));
    TD_CHECK(options.max_beta > 0.0 && options.max_beta < 1.0, "make_schedule",
             fmt::format("max_beta must lie in (0, 1), got {}", options.max_beta));
    auto f = [s](double u) {
      const double c = std::cos((u + s) / (1.0 + s) * std::numbers::pi / 2.0);
      return c * c;
    };
    for (int64_t i = 0; i < T; ++i) {
      const double u0 = static_cast<double>(i) / static_cast<double>(T);
      const double u1 = static_cast<double>(i + 1) / static_cast<double>(T);
      betas[i] = std::min(1.0 - f(u1) / f(u0), options.max_beta);
    }
  } else {
    throw Error("make_schedule",
                fmt::format("unknown schedule '{}'; expected one of: {}", name, fmt::join(schedule_names(), ", ")));
  }
  return betas;
}

NoiseSchedule NoiseSchedule::from_betas(const std::vector<double>& betas, const std::string& name) {
  const int64_t T = static_cast<int64_t>(betas.size());
  TD_CHECK(T >= 2, "NoiseSchedule", fmt::format("needs at least 2 timesteps, got {}", T));
  for (int64_t i = 0; i < T; ++i) {
    TD_CHECK(betas[i] > 0.0 && betas[i] < 1.0, "NoiseSchedule",
             fmt::format("beta[{}] = {} lies outside (0, 1); every beta must satisfy 0 < beta < 1", i, betas[i]));
  }
  const size_t n = betas.size();
  std::vector<double> alphas(n), abar(n), abar_prev(n), sqrt_abar(n), sqrt_1m_abar(n), post_var(n), post_logvar(n),
      coef1(n), coef2(n), snr(n);
  double prod = 1.0;
  for (size_t i = 0; i < n; ++i) {
    alphas[i] = 1.0 - betas[i];
    abar_prev[i] = prod;  // \bar\alpha_{t-1}; 1 at i = 0
    prod *= alphas[i];
    abar[i] = prod;
    sqrt_abar[i] = std::sqrt(abar[i]);
    sqrt_1m_abar[i] = std::sqrt(1.0 - abar[i]);
    // DDPM eq. 7: the posterior q(x_{t-1} | x_t, x_0) = N(coef1 x_0 + coef2 x_t, beta-tilde I).
    post_var[i] = betas[i] * (1.0 - abar_prev[i]) / (1.0 - abar[i]);
    coef1[i] = betas[i] * std::sqrt(abar_prev[i]) / (1.0 - abar[i]);
    coef2[i] = (1.0 - abar_prev[i]) * std::sqrt(alphas[i]) / (1.0 - abar[i]);
    snr[i] = abar[i] / (1.0 - abar[i]);
  }
  // beta-tilde is 0 at index 0, whose log is -inf; the DDPM code uses index 1's value there.
  post_logvar[0] = std::log(post_var[1]);
  for (size_t i = 1; i < n; ++i) post_logvar[i] = std::log(post_var[i]);

  NoiseSchedule s;
  s.name = name;
  s.num_timesteps = T;
  s.betas = to_tensor(betas);
  s.alphas = to_tensor(alphas);
  s.alpha_bar = to_tensor(abar);
  s.alpha_bar_prev = to_tensor(abar_prev);
  s.sqrt_alpha_bar = to_tensor(sqrt_abar);
  s.sqrt_one_minus_alpha_bar = to_tensor(sqrt_1m_abar);
  s.posterior_variance = to_tensor(post_var);
  s.posterior_log_variance_clipped = to_tensor(post_logvar);
  s.posterior_mean_coef1 = to_tensor(coef1);
  s.posterior_mean_coef2 = to_tensor(coef2);
  s.snr = to_tensor(snr);
  return s;
}

double NoiseSchedule::value(const Tensor& coefficients, int64_t t) const {
  TD_CHECK(
      t >= 0 && t < num_timesteps, "NoiseSchedule::value",
      fmt::format("timestep {} is out of range; expected 0 <= t <= {} (T = {})", t, num_timesteps - 1, num_timesteps));
  TD_CHECK(coefficients.dim() == 1 && coefficients.size(0) == num_timesteps, "NoiseSchedule::value",
           fmt::format("expected a ({},) coefficient tensor of this schedule, got {}", num_timesteps,
                       shape_str(coefficients.shape())));
  return coefficients.at({t});
}

NoiseSchedule make_schedule(const std::string& name, const ScheduleOptions& options) {
  return NoiseSchedule::from_betas(schedule_betas(name, options), name);
}

}  // namespace tinydiff
