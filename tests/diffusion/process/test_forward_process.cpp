// Tests of the forward process: exact values of q_step / q_sample / the posterior mean, the
// statistical agreement of t iterated single steps with the closed form, x_T ~ N(0, I), and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffusion/data/toy_data.h"
#include "diffusion/process/forward_process.h"

using namespace tinydiff;

namespace {

Tensor timesteps(std::vector<int64_t> t) {
  const int64_t n = static_cast<int64_t>(t.size());
  return Tensor::from_indices(t, {n});
}

/// Per-column mean and (population) variance of a (N, D) tensor, computed in double.
void column_moments(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.size(0), D = x.size(1);
  const std::vector<double> v = x.to_vector();
  mean.assign(static_cast<size_t>(D), 0.0);
  var.assign(static_cast<size_t>(D), 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) mean[d] += v[i * D + d] / static_cast<double>(N);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) var[d] += std::pow(v[i * D + d] - mean[d], 2) / static_cast<double>(N);
}

}  // namespace

TEST_CASE("q_sample and q_step compute the DDPM formulas exactly", "[diffusion][forward]") {
  const NoiseSchedule s = make_schedule("linear");
  // alpha_bar and beta of the linear schedule at indices 0, 499, 999 (tools/schedule_reference.py).
  const double abar[3] = {0.99990000000000001, 0.078587242881778208, 4.0358297653756754e-05};
  const double beta[3] = {0.0001, 0.010040040040040041, 0.02};
  const Tensor x0 = Tensor::from_vector({1.0, -2.0, 0.5, 3.0, -1.0, 0.25}, {3, 2}, DType::F64);  // (B=3, 2)
  const Tensor noise = Tensor::from_vector({0.3, 0.1, -1.2, 0.7, 2.0, -0.4}, {3, 2}, DType::F64);
  const Tensor t = timesteps({0, 499, 999});
  const Tensor xt = q_sample(x0, t, noise, s);
  const Tensor xs = q_step(x0, t, noise, s);
  REQUIRE(xt.shape() == Shape{3, 2});
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t d = 0; d < 2; ++d) {
      const double a = x0.at({b, d}), n = noise.at({b, d});
      // float64 throughout: agreement to rounding.
      CHECK(xt.at({b, d}) == Approx(std::sqrt(abar[b]) * a + std::sqrt(1.0 - abar[b]) * n).epsilon(1e-13));
      CHECK(xs.at({b, d}) == Approx(std::sqrt(1.0 - beta[b]) * a + std::sqrt(beta[b]) * n).epsilon(1e-13));
    }
  }
  // float32 input gives a float32 result of the same values (to float32 rounding, ~1e-7 relative).
  const Tensor xt32 = q_sample(x0.to(DType::F32), t, noise.to(DType::F32), s);
  CHECK(xt32.dtype() == DType::F32);
  CHECK(max_abs_diff(xt32, xt) < 1e-6);
}

TEST_CASE("coefficient_at broadcasts one coefficient per example", "[diffusion][forward]") {
  const NoiseSchedule s = make_schedule("cosine", {.num_timesteps = 100});
  const Tensor x = Tensor::zeros({2, 3, 4, 4});
  const Tensor c = coefficient_at(s.snr, timesteps({7, 93}), x, s);
  CHECK(c.shape() == Shape{2, 1, 1, 1});
  CHECK(c.dtype() == DType::F32);
  CHECK(c.at({0, 0, 0, 0}) == Approx(s.snr.at({7})).epsilon(1e-6));
  CHECK(c.at({1, 0, 0, 0}) == Approx(s.snr.at({93})).epsilon(1e-6));
}

TEST_CASE("the posterior mean is the DDPM eq. 7 combination and equals x0 at t = 0", "[diffusion][forward]") {
  const NoiseSchedule s = make_schedule("linear");
  const Tensor x0 = Tensor::from_vector({1.0, -2.0, 0.5, 3.0}, {2, 2}, DType::F64);
  const Tensor xt = Tensor::from_vector({0.2, 0.4, -0.6, 1.0}, {2, 2}, DType::F64);
  const Tensor m = q_posterior_mean(x0, xt, timesteps({0, 499}), s);
  CHECK(m.at({0, 0}) == Approx(1.0).epsilon(1e-12));  // coef1 = 1, coef2 = 0 at t = 0
  CHECK(m.at({0, 1}) == Approx(-2.0).epsilon(1e-12));
  // Index 499 of the linear schedule: coef1 = 0.0030700711142649766, coef2 = 0.99410667021016663 (Python reference).
  CHECK(m.at({1, 0}) == Approx(0.0030700711142649766 * 0.5 + 0.99410667021016663 * -0.6).epsilon(1e-12));
  CHECK(m.at({1, 1}) == Approx(0.0030700711142649766 * 3.0 + 0.99410667021016663 * 1.0).epsilon(1e-12));
}

TEST_CASE("iterating q_step t+1 times matches the closed form q_sample in distribution", "[diffusion][forward][slow]") {
  // From a fixed x0 = (1.5, -0.5), x_t after steps 0..t is N(sqrt(abar_t) x0, (1 - abar_t) I). We draw
  // N = 10000 chains of single steps and N closed-form samples (float32) and compare both against the
  // exact moments. Tolerances: 5 standard errors, i.e. mean within 5 sqrt(var / N) and variance within
  // 5 var sqrt(2 / N) (the sampling error of a Gaussian's variance), plus 1e-4 for float32 accumulation.
  const int64_t N = 10000;
  for (const std::string name : {"linear", "cosine"}) {
    INFO(name);
    const NoiseSchedule s = make_schedule(name);
    Generator gen(11);
    const Tensor x0 = Tensor::from_vector({1.5, -0.5}, {1, 2}).expand({N, 2}).contiguous();
    Tensor x = x0;
    const std::vector<int64_t> checkpoints = {9, 299, 999};
    size_t next = 0;
    for (int64_t t = 0; t < s.num_timesteps && next < checkpoints.size(); ++t) {
      const Tensor tt = Tensor::full({N}, static_cast<double>(t), DType::I64);
      x = q_step(x, tt, gen.normal({N, 2}), s);
      if (t != checkpoints[next]) continue;
      ++next;
      INFO("t = " << t);
      const Tensor closed = q_sample(x0, tt, gen.normal({N, 2}), s);
      const double abar = s.alpha_bar.at({t});
      const double var = 1.0 - abar;
      std::vector<double> m_iter, v_iter, m_closed, v_closed;
      column_moments(x, m_iter, v_iter);
      column_moments(closed, m_closed, v_closed);
      for (int d = 0; d < 2; ++d) {
        const double mu = std::sqrt(abar) * (d == 0 ? 1.5 : -0.5);
        const double mean_tol = 5.0 * std::sqrt(var / N) + 1e-4, var_tol = 5.0 * var * std::sqrt(2.0 / N) + 1e-4;
        CHECK(m_iter[d] == Approx(mu).margin(mean_tol));
        CHECK(m_closed[d] == Approx(mu).margin(mean_tol));
        CHECK(v_iter[d] == Approx(var).margin(var_tol));
        CHECK(v_closed[d] == Approx(var).margin(var_tol));
      }
    }
    CHECK(next == checkpoints.size());
  }
}

TEST_CASE("x_T is close to N(0, I) for the linear and cosine schedules", "[diffusion][forward]") {
  // Two moons (unit variance per axis) noised to t = T-1. Linear: sqrt(abar_T) = 0.0064, cosine: 4.9e-5,
  // so x_T's mean is within 0.01 of 0 and its variance within 1e-4 of 1 — below the 5-standard-error
  // sampling tolerances used here (N = 20000: mean 0.035, variance 0.05, correlation 0.035). The fraction
  // inside |x| < 1 is compared with 0.6827 (binomial standard error 0.0033, tolerance 0.017).
  const int64_t N = 20000;
  for (const std::string name : {"linear", "cosine"}) {
    INFO(name);
    const NoiseSchedule s = make_schedule(name);
    Generator gen(5);
    const Tensor x0 = make_moons(gen, N).x;
    const Tensor t = Tensor::full({N}, static_cast<double>(s.num_timesteps - 1), DType::I64);
    const Tensor xT = q_sample(x0, t, gen.normal({N, 2}), s);
    std::vector<double> m, v;
    column_moments(xT, m, v);
    const std::vector<double> xv = xT.to_vector();
    double cov = 0.0;
    int64_t inside = 0;
    for (int64_t i = 0; i < N; ++i) {
      cov += (xv[2 * i] - m[0]) * (xv[2 * i + 1] - m[1]) / N;
      inside += std::abs(xv[2 * i]) < 1.0;
    }
    for (int d = 0; d < 2; ++d) {
      CHECK(m[d] == Approx(0.0).margin(0.035));
      CHECK(v[d] == Approx(1.0).margin(0.05));
    }
    CHECK(cov == Approx(0.0).margin(0.035));
    CHECK(static_cast<double>(inside) / N == Approx(0.6827).margin(0.017));
  }
}

TEST_CASE("forward-process errors name the op and the problem", "[diffusion][forward][errors]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  const Tensor x = Tensor::zeros({2, 3});
  const Tensor n = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(
      q_sample(x, timesteps({0, 100}), n, s),
      Catch::Contains("q_sample") && Catch::Contains("t[1] = 100 is out of range; expected 0 <= t <= 99"));
  CHECK_THROWS_WITH(q_sample(x, timesteps({-1, 0}), n, s), Catch::Contains("t[0] = -1 is out of range"));
  CHECK_THROWS_WITH(q_sample(x, timesteps({0, 1, 2}), n, s),
                    Catch::Contains("q_sample: timesteps t have shape (3,); expected (2,), one per example"));
  CHECK_THROWS_WITH(q_sample(x, Tensor::zeros({2}), n, s), Catch::Contains("timesteps t must be int64"));
  CHECK_THROWS_WITH(q_sample(x, timesteps({0, 1}), Tensor::zeros({2, 4}), s),
                    Catch::Contains("q_sample: noise has shape (2, 4) but x0 has shape (2, 3)"));
  CHECK_THROWS_WITH(q_sample(x, timesteps({0, 1}), Tensor::zeros({2, 3}, DType::F64), s),
                    Catch::Contains("noise is float64 but x0 is float32"));
  CHECK_THROWS_WITH(q_step(x, timesteps({0, 1}), Tensor::zeros({3, 3}), s),
                    Catch::Contains("q_step: noise has shape (3, 3) but x_prev has shape (2, 3)"));
  CHECK_THROWS_WITH(q_step(Tensor::zeros({2, 3}, DType::I64), timesteps({0, 1}), Tensor::zeros({2, 3}, DType::I64), s),
                    Catch::Contains("q_step"));
  CHECK_THROWS_WITH(q_posterior_mean(x, Tensor::zeros({2, 2}), timesteps({0, 1}), s),
                    Catch::Contains("x_t has shape (2, 2) but x0 has shape (2, 3)"));
}
