// Convergence of the probability-flow ODE solvers (Euler, Heun, DPM-Solver++(2M)) against the exact solution,
// and Euler ancestral's distribution, with the exact denoiser of a Gaussian (optimal_denoisers.h).
//
// Data N(mu, s^2 I): D(x; sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu), so dx/dsigma = (x - D) / sigma =
// sigma / (s^2 + sigma^2) (x - mu), whose solution is x(sigma) - mu = (x(sigma_0) - mu) sqrt(s^2 + sigma^2) /
// sqrt(s^2 + sigma_0^2). Each solver's error at the last nonzero sigma (before the common last step to 0) is
// measured as the steps double; the observed order is log2(err(N) / err(2N)).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/dpm_solver.h"
#include "diffusion/sampling/euler.h"
#include "diffusion/sampling/heun.h"
#include "diffusion/sampling/karras_sigmas.h"
#include "diffusion/sampling/sampler.h"
#include "optimal_denoisers.h"

using namespace tinydiff;
using namespace tinydiff::testing;

namespace {

const Gaussian kGauss{{0.7, -1.2}, 0.5};

Denoiser gaussian_denoiser(const Gaussian& g, const NoiseSchedule& s, Prediction p) {
  return Denoiser([&g, &s, p](const Tensor& x, const Tensor& t) { return optimal_output(g, x, t, s, p); }, p);
}

// The state (sigma view) at the start of the last step, and its sigma, recorded through the callback.
struct LastState {
  Tensor x;
  double sigma = 0.0;
  StepCallback callback(const NoiseSchedule& s, int64_t steps) {
    return [this, &s, steps](int64_t step, int64_t t, const Tensor& x_t, const Tensor&) {
      if (step != steps - 1) return;
      x = scaled_from_vp(x_t, s, t);
      sigma = schedule_sigmas(s)[static_cast<size_t>(t)];
    };
  }
};

// Max abs error of the recorded last state against the exact ODE solution from x_T (VP, at sigma_max).
double error_at_last_sigma(const LastState& last, const Tensor& x_T, const NoiseSchedule& s) {
  const double sigma0 = schedule_sigmas(s).back();
  const std::vector<double> x0 = x_T.to_vector(), got = last.x.to_vector();
  const int64_t D = x_T.size(1);
  const double s2 = kGauss.sigma * kGauss.sigma;
  const double ratio = std::sqrt(s2 + last.sigma * last.sigma) / std::sqrt(s2 + sigma0 * sigma0);
  double err = 0.0;
  for (size_t i = 0; i < x0.size(); ++i) {
    const double mu = kGauss.mu[i % static_cast<size_t>(D)];
    const double start = x0[i] * std::sqrt(1.0 + sigma0 * sigma0);  // x_T / sqrt(abar_{T-1})
    err = std::max(err, std::abs(got[i] - (mu + (start - mu) * ratio)));
  }
  return err;
}

// A deliberately broken Heun (its slope d' evaluated at sigma_i instead of sigma_{i+1}) and a broken
// DPM-Solver++(2M) (the multistep weights' sign flipped): the order windows below must reject both.
Tensor broken_solver(const std::string& which, const Denoiser& den, const NoiseSchedule& s, const Tensor& x_T,
                     int64_t steps, const StepCallback& cb) {
  const SigmaSteps g = sampling_sigmas(s, steps, SigmaSpacing::Karras);
  Tensor x = scaled_from_vp(x_T, s, g.timesteps[0]), d_prev;
  double h_prev = 0.0;
  for (int64_t i = 0; i < steps; ++i) {
    const double a = g.sigmas[i], b = g.sigmas[i + 1];
    Tensor x_t;
    const Tensor d = denoised(den, s, x, g.timesteps[i], false, "broken", &x_t);
    cb(i, g.timesteps[i], x_t, d);
    if (b == 0.0) return d;
    const Tensor dx = (x - d) / a;
    if (which == "heun") {
      const Tensor xe = x + dx * (b - a);
      const Tensor dx2 = (xe - denoised(den, s, xe, g.timesteps[i], false, "broken")) / a;  // wrong sigma
      x = x + (dx + dx2) * (0.5 * (b - a));
    } else {
      const double h = std::log(a / b);
      Tensor dh = d;
      if (i > 0) dh = d * (1.0 - 0.5 * h / h_prev) + d_prev * (0.5 * h / h_prev);  // wrong sign
      x = x * (b / a) - dh * std::expm1(-h);
      d_prev = d;
      h_prev = h;
    }
  }
  return x;
}

std::vector<double> errors(const std::string& solver, const NoiseSchedule& s, const std::vector<int64_t>& steps) {
  Generator gen(11);
  const Tensor x_T = gen.normal({16, 2}, 0.0, 1.0, DType::F64);  // float64: rounding far below the errors
  const Denoiser den = gaussian_denoiser(kGauss, s, Prediction::Epsilon);
  std::vector<double> out;
  for (int64_t n : steps) {
    LastState last;
    const StepCallback cb = last.callback(s, n);
    if (solver == "euler") euler_sample(den, s, x_T, gen, {.steps = n, .callback = cb});
    if (solver == "heun") heun_sample(den, s, x_T, gen, {.steps = n, .callback = cb});
    if (solver == "dpmpp_2m") dpm_solver_2m_sample(den, s, x_T, gen, {.steps = n, .callback = cb});
    if (solver == "broken_heun") broken_solver("heun", den, s, x_T, n, cb);
    if (solver == "broken_dpm") broken_solver("dpm", den, s, x_T, n, cb);
    out.push_back(error_at_last_sigma(last, x_T, s));
  }
  return out;
}

}  // namespace

TEST_CASE("the ODE solvers converge to the exact Gaussian solution with orders 1 (Euler) and 2 (Heun, DPM-Solver++)",
          "[diffusion][sampler][ode][exact]") {
  // Karras sigmas (rho = 7). Observed orders log2(err(N) / err(2N)) on the linear schedule for N = 16, 32, 64, 128
  // (and on the cosine schedule for N = 32, 64, 128, where DPM-Solver++(2M) is still pre-asymptotic at 16):
  // Euler must lie in [0.8, 1.3], Heun and DPM-Solver++(2M) in [1.7, 2.6]. A Heun whose correction uses the slope
  // at the wrong sigma, or a DPM-Solver++(2M) with the multistep weights' sign flipped, lands below 1.7.
  struct Case {
    std::string schedule;
    std::vector<int64_t> steps;
  };
  for (const Case& c : {Case{"linear", {16, 32, 64, 128}}, Case{"cosine", {32, 64, 128}}}) {
    const NoiseSchedule s = make_schedule(c.schedule);
    for (const std::string solver : {"euler", "heun", "dpmpp_2m", "broken_heun", "broken_dpm"}) {
      const std::vector<double> e = errors(solver, s, c.steps);
      for (size_t k = 0; k + 1 < e.size(); ++k) {
        const double order = std::log2(e[k] / e[k + 1]);
        INFO(c.schedule << " " << solver << ": steps " << c.steps[k] << " -> " << c.steps[k + 1] << ", error " << e[k]
                        << " -> " << e[k + 1] << ", order " << order);
        if (solver == "euler") CHECK((order >= 0.8 && order <= 1.3));
        if (solver == "heun" || solver == "dpmpp_2m") CHECK((order >= 1.7 && order <= 2.6));
        if (solver.rfind("broken", 0) == 0 && k + 2 == e.size()) CHECK(order < 1.7);  // the last pair
      }
    }
  }
}

TEST_CASE("Euler ancestral samples a Gaussian's mean and variance", "[diffusion][sampler][ode][exact][slow]") {
  // 1000 steps on a 1000-step linear schedule (every timestep), 20000 samples of N(mu, 0.5^2) in 2-D.
  // The mean is exact up to sampling error (standard error 0.5 / sqrt(20000) = 0.0035; tolerance 0.015, over 4
  // standard errors). The variance is low by the sampler's discretisation, about 1.5% at 1000 steps (it uses
  // E[x0 | x_t] for x0), plus a sampling error of sqrt(2 / 20000) = 1%: tolerance 5% relative. The fresh
  // noise's amplitude itself is pinned exactly by "Euler ancestral with eta = 1 is DDIM with eta = 1"
  // (test_ode_samplers.cpp); this test checks the distribution that results.
  const NoiseSchedule s = make_schedule("linear");
  const int64_t n = 20000;
  Generator gen(3);
  const Tensor x_T = gen.normal({n, 2});
  const Tensor x = euler_ancestral_sample(gaussian_denoiser(kGauss, s, Prediction::Epsilon), s, x_T, gen,
                                          {.steps = 1000, .sigmas = SigmaSpacing::Uniform});
  const std::vector<double> v = x.to_vector();
  for (int64_t d = 0; d < 2; ++d) {
    double m = 0.0, q = 0.0;
    for (int64_t i = 0; i < n; ++i) m += v[i * 2 + d];
    m /= n;
    for (int64_t i = 0; i < n; ++i) q += (v[i * 2 + d] - m) * (v[i * 2 + d] - m);
    q /= n - 1;
    INFO("dim " << d << ": mean " << m << " (want " << kGauss.mu[d] << "), variance " << q << " (want 0.25)");
    CHECK(std::abs(m - kGauss.mu[d]) < 0.015);
    CHECK(std::abs(q / 0.25 - 1.0) < 0.05);
  }
}
