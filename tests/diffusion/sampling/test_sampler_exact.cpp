// Exact sampler tests, no training: for data whose optimal denoiser is known in closed form
// (K weighted points; a Gaussian), DDPM and DDIM must reproduce the data distribution.
//
// With the exact eps*(x_t, t) = E[eps | x_t] (tests/diffusion/sampling/optimal_denoisers.h) the reverse process
// is exact up to the sampler's discretisation, so a wrong coefficient, an off-by-one timestep, a wrong
// sign in a conversion or a missing noise term shows up as samples off the points, wrong frequencies,
// or a wrong mean / covariance.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/ddpm.h"
#include "diffusion/sampling/guidance.h"
#include "diffusion/sampling/sampler.h"
#include "diffusion/sampling/timestep_spacing.h"
#include "optimal_denoisers.h"

using namespace tinydiff;
using namespace tinydiff::testing;

namespace {

// Three points in 2-D with unequal weights.
const PointMixture kPoints{{-2.0, 0.0, 1.5, 1.5, 1.0, -2.0}, {0.5, 0.3, 0.2}, 2};

// Chi-square critical value for K - 1 = 2 degrees of freedom at p = 0.001 (scipy.stats.chi2.ppf(0.999, 2)).
constexpr double kChi2Crit2 = 13.816;

struct PointStats {
  double max_dist = 0.0;
  double chi2 = 0.0;
  std::vector<int64_t> counts;
};

PointStats point_stats(const Tensor& x, const PointMixture& data) {
  std::vector<double> dist;
  std::vector<int64_t> index;
  nearest_points(x, data, dist, index);
  PointStats s;
  s.counts.assign(static_cast<size_t>(data.count()), 0);
  for (size_t i = 0; i < dist.size(); ++i) {
    if (index[i] < 0) {  // a NaN sample has no nearest point
      s.max_dist = INFINITY;
      continue;
    }
    s.max_dist = std::max(s.max_dist, dist[i]);
    ++s.counts[static_cast<size_t>(index[i])];
  }
  s.chi2 = chi_square(s.counts, data.weights);
  return s;
}

template <typename Data>
Denoiser optimal_denoiser(const Data& data, const NoiseSchedule& s, Prediction p) {
  return Denoiser([&data, &s, p](const Tensor& x, const Tensor& t) { return optimal_output(data, x, t, s, p); }, p);
}

}  // namespace

TEST_CASE("DDPM with the optimal denoiser lands on the data points with the right frequencies",
          "[diffusion][sampler][exact]") {
  // 2000 samples, T = 1000. At the last step abar = 0.9999, so the posterior over points is a one-hot
  // to float32 precision and every sample is a data point to ~1e-6; tolerance 1e-3. Frequencies:
  // chi-square against the weights below the p = 0.001 critical value (DDPM with 1000 steps is very
  // nearly exact, so this fails only by chance 1 in 1000 or when the sampler is wrong; the seed is fixed).
  const int64_t N = 2000;
  for (const std::string name : {"linear", "cosine"}) {
    for (const std::string variance : {"beta_tilde", "beta"}) {
      if (name == "cosine" && variance == "beta") continue;  // three runs suffice; keeps the test fast
      INFO(name << ", variance " << variance);
      const NoiseSchedule s = make_schedule(name);
      Generator gen(2024);
      DdpmOptions opt;
      opt.variance = variance == "beta" ? DdpmVariance::Beta : DdpmVariance::BetaTilde;
      const Tensor x = ddpm_sample(optimal_denoiser(kPoints, s, Prediction::Epsilon), s, gen.normal({N, 2}), gen, opt);
      const PointStats st = point_stats(x, kPoints);
      INFO("counts " << st.counts[0] << " " << st.counts[1] << " " << st.counts[2] << ", chi2 " << st.chi2);
      CHECK(st.max_dist < 1e-3);
      CHECK(st.chi2 < kChi2Crit2);
    }
  }
}

TEST_CASE("DDIM (50 steps, eta = 0) with the optimal denoiser lands on the points, in every parameterisation",
          "[diffusion][sampler][exact]") {
  // Deterministic DDIM integrates the probability-flow ODE; 50 steps give a small discretisation error
  // in *where* the trajectories end, but the last step returns E[x0 | x_t] at t = 0 (or t = 19 for
  // "trailing"), a point to float32 precision. Same distance and chi-square criteria as for DDPM.
  // The model answers in eps, x0 or v, exercising every conversion of the sampler.
  const int64_t N = 2000;
  for (const std::string name : {"linear", "cosine"}) {
    for (Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
      for (const std::string spacing : {"leading", "trailing"}) {
        INFO(name << ", " << prediction_name(p) << ", " << spacing);
        const NoiseSchedule s = make_schedule(name);
        Generator gen(77);
        DdimOptions opt;
        opt.steps = 50;
        opt.eta = 0.0;
        opt.spacing = parse_timestep_spacing(spacing);
        const Tensor x = ddim_sample(optimal_denoiser(kPoints, s, p), s, gen.normal({N, 2}), gen, opt);
        const PointStats st = point_stats(x, kPoints);
        INFO("counts " << st.counts[0] << " " << st.counts[1] << " " << st.counts[2] << ", chi2 " << st.chi2);
        CHECK(st.max_dist < 1e-3);
        CHECK(st.chi2 < kChi2Crit2);
      }
    }
  }
}

TEST_CASE("DDPM and many-step DDIM reproduce a Gaussian's mean and covariance", "[diffusion][sampler][exact][slow]") {
  // Data N(mu, sigma^2 I), mu = (1, -0.5), sigma = 0.5; 4000 samples. Sampling error (standard errors):
  // mean sigma / sqrt(N) = 0.0079; variance sigma^2 sqrt(2 / N) = 0.0056; covariance sigma^2 / sqrt(N) = 0.0040.
  // Tolerances: 5 standard errors (mean 0.04, variance 0.028, covariance 0.02). Discretisation: DDPM with
  // T = 1000 steps is nearly exact; DDIM needs many steps here (its variance is 0.2485 with 1000 steps but
  // 0.223 with 50 on the linear schedule — computed exactly in the next test), so it runs 1000 steps.
  const Gaussian data{{1.0, -0.5}, 0.5};
  const int64_t N = 4000;
  for (const std::string sampler : {"ddpm", "ddim"}) {
    for (const std::string name : {"linear", "cosine"}) {
      INFO(sampler << ", " << name);
      const NoiseSchedule s = make_schedule(name);
      Generator gen(99);
      SamplerOptions opt = DdpmOptions{};
      if (sampler == "ddim") opt = DdimOptions{.steps = 1000};
      const Tensor x = sample(optimal_denoiser(data, s, Prediction::Epsilon), s, gen.normal({N, 2}), gen, opt);
      const std::vector<double> v = x.to_vector();
      double m[2] = {0, 0}, c[3] = {0, 0, 0};
      for (int64_t i = 0; i < N; ++i) {
        m[0] += v[2 * i] / N;
        m[1] += v[2 * i + 1] / N;
      }
      for (int64_t i = 0; i < N; ++i) {
        const double a = v[2 * i] - m[0], b = v[2 * i + 1] - m[1];
        c[0] += a * a / N;
        c[1] += a * b / N;
        c[2] += b * b / N;
      }
      INFO("mean " << m[0] << " " << m[1] << ", cov " << c[0] << " " << c[1] << " " << c[2]);
      CHECK(m[0] == Approx(1.0).margin(0.04));
      CHECK(m[1] == Approx(-0.5).margin(0.04));
      CHECK(c[0] == Approx(0.25).margin(0.028));
      CHECK(c[2] == Approx(0.25).margin(0.028));
      CHECK(c[1] == Approx(0.0).margin(0.02));
    }
  }
}

TEST_CASE("DDIM (eta = 0) on Gaussian data is exactly the affine map of eq. 12", "[diffusion][sampler][exact]") {
  // For data N(mu, sigma^2) the optimal predictions are affine in x_t, so each deterministic DDIM step
  // x_s = sqrt(abar_s) x0* + sqrt(1 - abar_s) eps* is affine too, and the whole sampler maps x_T to
  // a x_T + c per coordinate. Recompute (a, c) here from eq. 12 with the closed-form posterior:
  //   x0* = mu + sqrt(A) sigma^2 (x - sqrt(A) mu) / d,  eps* = sqrt(1 - A) (x - sqrt(A) mu) / d,
  //   d = A sigma^2 + 1 - A, A = abar_t,
  // and compare sample by sample, in float64 (tolerance 1e-8): in float32 the rounding of eps alone is
  // amplified by 1/sqrt(abar) = 2e4 at the cosine schedule's t = 999 (x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)),
  // an error of ~1e-3 that is a property of eps-prediction, not of the sampler. This also documents DDIM's
  // discretisation error: the output variance a^2 (for x_T ~ N(0, 1)) is 0.223 at 50 steps (linear,
  // leading) instead of sigma^2 = 0.25.
  const Gaussian data{{1.0, -0.5}, 0.5};
  const int64_t N = 64;
  for (const std::string name : {"linear", "cosine"}) {
    for (const std::string spacing : {"leading", "trailing", "linspace"}) {
      for (int64_t steps : {1, 7, 50}) {
        INFO(name << ", " << spacing << ", " << steps << " steps");
        const NoiseSchedule s = make_schedule(name);
        const std::vector<int64_t> ts = sampling_timesteps(1000, steps, parse_timestep_spacing(spacing));
        double a = 1.0, c[2] = {0.0, 0.0};  // x = a x_T + c, per coordinate
        for (size_t i = 0; i < ts.size(); ++i) {
          const double A = s.alpha_bar.at({ts[i]});
          const double As = i + 1 < ts.size() ? s.alpha_bar.at({ts[i + 1]}) : 1.0;
          const double sig2 = data.sigma * data.sigma, d = A * sig2 + 1.0 - A;
          const double k = std::sqrt(As) * std::sqrt(A) * sig2 / d + std::sqrt(1.0 - As) * std::sqrt(1.0 - A) / d;
          a *= k;
          for (int j = 0; j < 2; ++j) c[j] = std::sqrt(As) * data.mu[j] + k * (c[j] - std::sqrt(A) * data.mu[j]);
        }
        Generator gen(4);
        const Tensor xT = gen.normal({N, 2}, 0.0, 1.0, DType::F64);
        DdimOptions opt;
        opt.steps = steps;
        opt.spacing = parse_timestep_spacing(spacing);
        const Tensor x = ddim_sample(optimal_denoiser(data, s, Prediction::Epsilon), s, xT, gen, opt);
        double worst = 0.0;
        for (int64_t i = 0; i < N; ++i)
          for (int64_t j = 0; j < 2; ++j) worst = std::max(worst, std::abs(x.at({i, j}) - (a * xT.at({i, j}) + c[j])));
        CHECK(worst < 1e-8);
        // The same recursion in Python (float64) gives a^2 = 0.223199 for linear, leading, 50 steps.
        if (steps == 50 && name == "linear" && spacing == "leading") CHECK(a * a == Approx(0.2232).margin(2e-4));
      }
    }
  }
}

TEST_CASE("classifier-free guidance sharpens samples towards the conditioned class", "[diffusion][sampler][exact]") {
  // Two classes of points: A = {(-2, 0), (-1, 1.5)}, B = {(2, 0), (1, -1.5)}.
  const PointMixture both{{-2.0, 0.0, -1.0, 1.5, 2.0, 0.0, 1.0, -1.5}, {0.25, 0.25, 0.25, 0.25}, 2};
  const PointMixture only_a{{-2.0, 0.0, -1.0, 1.5}, {0.5, 0.5}, 2};
  // A "soft" conditional model that puts 70% of its mass on class A: guidance must sharpen it.
  const PointMixture soft_a{{-2.0, 0.0, -1.0, 1.5, 2.0, 0.0, 1.0, -1.5}, {0.35, 0.35, 0.15, 0.15}, 2};
  const NoiseSchedule s = make_schedule("linear");
  const int64_t N = 2000;

  // Fraction of samples whose nearest point is in class A (indices 0, 1 of `both`).
  auto fraction_a = [&](const PointMixture& cond, double w, const std::string& sampler, int64_t N) {
    int calls = 0;
    Denoiser model = [&](const Tensor& x2, const Tensor& t2) {
      ++calls;
      // Rows 0..B-1: unconditional (both classes); rows B..2B-1: conditional.
      const int64_t B = x2.size(0) / 2;
      const std::vector<Tensor> x = split(x2, {B, B}, 0), t = split(t2, {B, B}, 0);
      return concat({optimal_output(both, x[0], t[0], s, Prediction::Epsilon),
                     optimal_output(cond, x[1], t[1], s, Prediction::Epsilon)},
                    0);
    };
    Generator gen(5);
    SamplerOptions opt = DdpmOptions{};
    if (sampler == "ddim") opt = DdimOptions{.steps = 50, .spacing = TimestepSpacing::Leading};
    const Tensor x = sample(classifier_free_guidance(model, w), s, gen.normal({N, 2}), gen, opt);
    CHECK(calls == (sampler == "ddim" ? 50 : 1000));  // one batched call per step
    std::vector<double> dist;
    std::vector<int64_t> index;
    nearest_points(x, both, dist, index);
    int64_t a = 0;
    for (int64_t k : index) a += k == 0 || k == 1;  // k = -1 (a NaN sample) counts as not A
    return static_cast<double>(a) / N;
  };

  // DDIM (50 steps, deterministic) for every case.
  // Brief's setting: conditional model = class-A points only. w = 1 is the conditional model itself
  // (all A); w = 3 must stay at least as sharp.
  const double f1 = fraction_a(only_a, 1.0, "ddim", N), f3 = fraction_a(only_a, 3.0, "ddim", N);
  CHECK(f1 >= 0.99);
  CHECK(f3 >= f1);
  // Soft conditional model: w = 0 is the unconditional model (half A: binomial standard error 0.011,
  // tolerance 0.05); w = 1 gives the model's 70% (tolerance 0.05); w = 3 must sharpen well beyond it.
  // In the exact-score limit w = 3 samples ∝ p(x|c)^3 p(x)^-2: A's share 0.7^3 / (0.7^3 + 0.3^3) = 0.93.
  const double g0 = fraction_a(soft_a, 0.0, "ddim", N), g1 = fraction_a(soft_a, 1.0, "ddim", N);
  const double g3 = fraction_a(soft_a, 3.0, "ddim", N);
  INFO("ddim soft: w=0 " << g0 << ", w=1 " << g1 << ", w=3 " << g3);
  CHECK(g0 == Approx(0.5).margin(0.05));
  CHECK(g1 == Approx(0.7).margin(0.05));
  CHECK(g3 > 0.85);
  // DDPM (1000 stochastic steps) on the soft model, 1000 samples (standard error 0.015; tolerance 0.06).
  const double h1 = fraction_a(soft_a, 1.0, "ddpm", 1000), h3 = fraction_a(soft_a, 3.0, "ddpm", 1000);
  INFO("ddpm soft: w=1 " << h1 << ", w=3 " << h3);
  CHECK(h1 == Approx(0.7).margin(0.06));
  CHECK(h3 > 0.85);
}
