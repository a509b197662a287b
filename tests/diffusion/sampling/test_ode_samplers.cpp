// Tests of the sigma view (karras_sigmas.h) and of the ODE samplers' plumbing: the noise levels, DDIM = Euler,
// DDIM(eta = 1) = Euler ancestral, equal results for eps/x0/v models, guidance, model-call counts, names and
// errors. The convergence orders are in test_ode_convergence.cpp.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/dpm_solver.h"
#include "diffusion/sampling/euler.h"
#include "diffusion/sampling/guidance.h"
#include "diffusion/sampling/heun.h"
#include "diffusion/sampling/karras_sigmas.h"
#include "diffusion/sampling/sampler.h"
#include "optimal_denoisers.h"

using namespace tinydiff;
using namespace tinydiff::testing;

namespace {

using Steps = std::vector<int64_t>;

// Three points in 2-D with unequal weights (as in test_sampler_exact.cpp).
const PointMixture kPoints{{-2.0, 0.0, 1.5, 1.5, 1.0, -2.0}, {0.5, 0.3, 0.2}, 2};

template <typename Data>
Denoiser exact_denoiser(const Data& data, const NoiseSchedule& s, Prediction p) {
  return Denoiser([&data, &s, p](const Tensor& x, const Tensor& t) { return optimal_output(data, x, t, s, p); }, p);
}

// The four ODE-view samplers with `steps` steps and the given callback.
std::vector<std::pair<std::string, SamplerOptions>> ode_samplers(int64_t steps, const StepCallback& cb = {}) {
  return {{"euler", EulerOptions{.steps = steps, .callback = cb}},
          {"euler_a", EulerAncestralOptions{.steps = steps, .callback = cb}},
          {"heun", HeunOptions{.steps = steps, .callback = cb}},
          {"dpmpp_2m", DpmSolverOptions{.steps = steps, .callback = cb}}};
}

}  // namespace

TEST_CASE("the sigma view of a schedule and the sigma to timestep map", "[diffusion][sampler][ode]") {
  const NoiseSchedule s = make_schedule("linear");
  const std::vector<double> sig = schedule_sigmas(s);
  REQUIRE(sig.size() == 1000);
  for (int64_t t : {0, 1, 500, 999}) {
    const double abar = s.value(s.alpha_bar, t);
    CHECK(sig[t] == Approx(std::sqrt((1.0 - abar) / abar)).epsilon(1e-12));
    CHECK(sigma_to_timestep(s, sig[t]) == t);
  }
  // Nearest in log sigma: just below / above the geometric midpoint of sigma_0 and sigma_1.
  const double mid = std::sqrt(sig[0] * sig[1]);
  CHECK(sigma_to_timestep(s, mid * 0.999) == 0);
  CHECK(sigma_to_timestep(s, mid * 1.001) == 1);
  CHECK(sigma_to_timestep(s, 1e-9) == 0);
  CHECK(sigma_to_timestep(s, 1e9) == 999);
  CHECK_THROWS_WITH(sigma_to_timestep(s, 0.0), Catch::Contains("sigma_to_timestep: sigma must be a finite number > 0"));
  // x = x_t / sqrt(abar) and back.
  const Tensor x = Tensor::from_vector({1.0, -2.0}, {1, 2});
  CHECK(max_abs_diff(vp_from_scaled(scaled_from_vp(x, s, 700), s, 700), x) < 1e-6);
  CHECK(scaled_from_vp(x, s, 700).to_vector()[0] == Approx(std::sqrt(1.0 + sig[700] * sig[700])).epsilon(1e-6));
}

TEST_CASE("Karras and uniform noise levels", "[diffusion][sampler][ode]") {
  // EDM eq. 5 by hand for n = 3, sigma in [0.01, 80], rho = 7: the middle value is ((80^(1/7) + 0.01^(1/7)) / 2)^7.
  const std::vector<double> k = karras_sigmas(3, 0.01, 80.0);
  REQUIRE(k.size() == 3);
  CHECK(k[0] == Approx(80.0));
  CHECK(k[1] == Approx(std::pow((std::pow(80.0, 1 / 7.0) + std::pow(0.01, 1 / 7.0)) / 2, 7.0)));
  CHECK(k[2] == Approx(0.01));
  CHECK(karras_sigmas(1, 0.01, 80.0) == std::vector<double>{80.0});

  const NoiseSchedule s = make_schedule("linear");
  const std::vector<double> sig = schedule_sigmas(s);
  for (int64_t n : {1, 2, 10, 50, 500, 1000}) {
    INFO("steps " << n);
    const SigmaSteps g = sampling_sigmas(s, n, SigmaSpacing::Karras);
    REQUIRE(static_cast<int64_t>(g.timesteps.size()) == n);
    REQUIRE(static_cast<int64_t>(g.sigmas.size()) == n + 1);
    CHECK(g.timesteps.front() == 999);          // starts at sigma_max
    if (n > 1) CHECK(g.timesteps.back() == 0);  // ends at sigma_min
    CHECK(g.sigmas.back() == 0.0);              // and then goes to clean data
    for (int64_t i = 0; i < n; ++i) {
      CHECK(g.sigmas[i] == sig[g.timesteps[i]]);              // every sigma is one the model is evaluated at
      if (i > 0) CHECK(g.timesteps[i] < g.timesteps[i - 1]);  // distinct, decreasing
    }
  }
  // 10 steps: the snapped Karras sigmas are the nearest timesteps (no collisions at this size), within half a
  // timestep's log-sigma gap of the continuous values.
  const SigmaSteps g10 = sampling_sigmas(s, 10, SigmaSpacing::Karras);
  const std::vector<double> k10 = karras_sigmas(10, sig.front(), sig.back());
  for (int64_t i = 0; i < 10; ++i) CHECK(g10.timesteps[i] == sigma_to_timestep(s, k10[i]));
  // Uniform: the trailing timesteps of DDIM.
  const SigmaSteps u = sampling_sigmas(s, 10, SigmaSpacing::Uniform);
  CHECK(u.timesteps == Steps{999, 899, 799, 699, 599, 499, 399, 299, 199, 99});
  CHECK(u.sigmas[3] == sig[699]);

  CHECK(parse_sigma_spacing("karras") == SigmaSpacing::Karras);
  CHECK(parse_sigma_spacing("uniform") == SigmaSpacing::Uniform);
  CHECK(sigma_spacing_name(SigmaSpacing::Uniform) == "uniform");
  CHECK_THROWS_WITH(parse_sigma_spacing("exponential"),
                    Catch::Contains("unknown sigma spacing 'exponential'; expected one of: karras, uniform"));
  CHECK_THROWS_WITH(sampling_sigmas(s, 0, SigmaSpacing::Karras),
                    Catch::Contains("sampling_sigmas: steps must be 1..1000 (the schedule's timesteps), got 0"));
}

TEST_CASE("DDIM with eta = 0 is Euler on the uniform sigmas, and with eta = 1 Euler ancestral",
          "[diffusion][sampler][ode]") {
  // DDIM's x_s / sqrt(abar_s) = x0^ + sigma_s eps^ = x + (sigma_s - sigma_t)(x - x0^) / sigma_t: Euler's step in
  // the sigma view on the same (trailing) timesteps. Float32; the two compute in different variables, so they
  // agree to rounding: tolerance 2e-5 on values of order 2. The same for the ancestral step with eta = 1
  // (sigma_down = sigma_s^2 / sigma_t, sigma_up = DDIM's sigma_t / sqrt(abar_s)) given the same noise draws.
  const NoiseSchedule s = make_schedule("linear");
  for (const Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
    for (const bool clip : {false, true}) {
      INFO(prediction_name(p) << (clip ? ", clip_x0" : ""));
      const Denoiser den = exact_denoiser(kPoints, s, p);
      Generator g0(4);
      const Tensor x_T = g0.normal({64, 2});
      Generator ga(9), gb(9);
      const Tensor ddim = ddim_sample(den, s, x_T, ga, {.steps = 20, .clip_x0 = clip});
      const Tensor euler =
          euler_sample(den, s, x_T, gb, {.steps = 20, .sigmas = SigmaSpacing::Uniform, .clip_x0 = clip});
      CHECK(max_abs_diff(ddim, euler) < 2e-5);
      const Tensor ddim1 = ddim_sample(den, s, x_T, ga, {.steps = 20, .eta = 1.0, .clip_x0 = clip});
      const Tensor anc =
          euler_ancestral_sample(den, s, x_T, gb, {.steps = 20, .sigmas = SigmaSpacing::Uniform, .clip_x0 = clip});
      CHECK(max_abs_diff(ddim1, anc) < 2e-5);
      CHECK(max_abs_diff(ddim1, ddim) > 1e-2);  // the noise is there
    }
  }
}

TEST_CASE("every ODE sampler gives the same result for eps, x0 and v models", "[diffusion][sampler][ode]") {
  // The exact denoiser of a point mixture in each parameterisation, float64: the samplers read every output
  // through denoise(), so the three runs differ only by rounding. Compared along the whole path (x_t and x0^ at
  // every step, through the callback), since the final samples sit exactly on the data points whatever the path:
  // tolerance 1e-8 on values up to ~160 (x_t is N(0, 1), but x0^ at sigma_max is x_t / sqrt(abar) for eps).
  const NoiseSchedule s = make_schedule("cosine");
  Generator g0(5);
  const Tensor x_T = g0.normal({32, 2}, 0.0, 1.0, DType::F64);
  std::vector<Tensor> path;
  const StepCallback record = [&](int64_t, int64_t, const Tensor& x_t, const Tensor& x0) {
    path.push_back(x_t.clone());
    path.push_back(x0.clone());
  };
  for (const auto& [name, opt] : ode_samplers(12, record)) {
    for (const bool karras : {true, false}) {
      SamplerOptions o = opt;
      if (!karras)
        std::visit(
            [](auto& v) {
              if constexpr (requires { v.sigmas; }) v.sigmas = SigmaSpacing::Uniform;
            },
            o);
      std::vector<Tensor> out;
      for (const Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
        Generator gen(8);
        path.clear();
        path.push_back(sample(exact_denoiser(kPoints, s, p), s, x_T, gen, o));
        out.push_back(concat(path, 0));  // (2 * 12 + 1) * 32 rows
      }
      INFO(name << (karras ? " karras" : " uniform"));
      REQUIRE(out[0].size(0) == 25 * 32);
      CHECK(max_abs_diff(out[0], out[1]) < 1e-8);
      CHECK(max_abs_diff(out[0], out[2]) < 1e-8);
    }
  }
}

TEST_CASE("the ODE samplers land on the data points", "[diffusion][sampler][ode][exact]") {
  // The exact point-mixture denoiser: the last step returns D(x; sigma_min), a posterior mean at
  // abar = 0.9999, which is a data point to ~1e-6 unless x sits between points. 1000 samples; with 25 steps
  // every sample is within 1e-3 of a point.
  const NoiseSchedule s = make_schedule("linear");
  Generator g0(6);
  const Tensor x_T = g0.normal({1000, 2});
  for (const auto& [name, opt] : ode_samplers(25)) {
    INFO(name);
    Generator gen(1);
    const Tensor x = sample(exact_denoiser(kPoints, s, Prediction::Epsilon), s, x_T, gen, opt);
    std::vector<double> dist;
    std::vector<int64_t> index;
    nearest_points(x, kPoints, dist, index);
    CHECK(*std::max_element(dist.begin(), dist.end()) < 1e-3);
    CHECK(std::count(index.begin(), index.end(), -1) == 0);
  }
}

TEST_CASE("the ODE samplers work under classifier-free guidance", "[diffusion][sampler][ode][guidance]") {
  // Unconditional data N(mu_u, s^2), conditional N(mu_c, s^2) with the same s: the guided x0^ = D_u + w (D_c - D_u)
  // is exactly the denoiser of N(mu_u + w (mu_c - mu_u), s^2) (both are affine in x with the same slope), and the
  // combination is affine, so it holds for eps, x0 and v outputs alike. So guided sampling must equal sampling that
  // Gaussian directly: float64, tolerance 1e-9 (Euler ancestral with the same seed draws the same noise).
  const NoiseSchedule s = make_schedule("linear");
  const Gaussian uncond{{0.0, 0.0}, 0.5}, cond{{1.0, -0.5}, 0.5}, target{{3.0, -1.5}, 0.5};  // w = 3
  Generator g0(7);
  const Tensor x_T = g0.normal({16, 2}, 0.0, 1.0, DType::F64);
  for (const Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
    int calls = 0;
    const Denoiser batched(
        [&](const Tensor& x2, const Tensor& t2) {
          ++calls;
          const int64_t B = x2.size(0) / 2;
          const std::vector<Tensor> x = split(x2, {B, B}, 0), t = split(t2, {B, B}, 0);
          return concat({optimal_output(uncond, x[0], t[0], s, p), optimal_output(cond, x[1], t[1], s, p)}, 0);
        },
        p);
    const Denoiser guided = classifier_free_guidance(batched, 3.0);
    for (const auto& [name, opt] : ode_samplers(10)) {
      INFO(prediction_name(p) << " " << name);
      Generator ga(2), gb(2);
      calls = 0;
      const Tensor a = sample(guided, s, x_T, ga, opt);
      CHECK(calls == sampler_evaluations(opt, 1000));  // one batched call per evaluation
      const Tensor b = sample(exact_denoiser(target, s, p), s, x_T, gb, opt);
      CHECK(max_abs_diff(a, b) < 1e-9);
    }
  }
}

TEST_CASE("the ODE samplers call the model as often as documented and report every step", "[diffusion][sampler][ode]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  Generator g0(1);
  const Tensor x_T = g0.normal({4, 2});
  Steps seen;
  Tensor first_x;
  const StepCallback cb = [&](int64_t step, int64_t t, const Tensor& x_t, const Tensor& x0) {
    CHECK(step == static_cast<int64_t>(seen.size()));
    seen.push_back(t);
    if (step == 0) first_x = x_t.clone();
    CHECK(x0.shape() == x_t.shape());
  };
  for (const int64_t n : {1, 2, 7}) {
    for (const auto& [name, opt] : ode_samplers(n, cb)) {
      INFO(name << ", " << n << " steps");
      int calls = 0;
      const Denoiser den = [&](const Tensor& x, const Tensor& t) {
        ++calls;
        return optimal_output(kPoints, x, t, s, Prediction::Epsilon);
      };
      seen.clear();
      Generator gen(3);
      sample(den, s, x_T, gen, opt);
      CHECK(calls == (name == "heun" ? 2 * n - 1 : n));
      CHECK(sampler_evaluations(opt, 100) == calls);
      CHECK(seen == sampling_sigmas(s, n, SigmaSpacing::Karras).timesteps);
      CHECK(max_abs_diff(first_x, x_T) < 1e-6);  // step 0 sees x_T itself, in the VP scaling
    }
  }
  CHECK(sampler_evaluations(DdpmOptions{}, 100) == 100);
  CHECK(sampler_evaluations(DdimOptions{.steps = 30}, 100) == 30);
}

TEST_CASE("ODE sampler names and errors", "[diffusion][sampler][ode][errors]") {
  for (const std::string& n : sampler_names()) CHECK(sampler_name(parse_sampler_kind(n)) == n);
  CHECK(sampler_names() == std::vector<std::string>{"ddim", "ddpm", "euler", "euler_a", "heun", "dpmpp_2m"});
  CHECK(parse_sampler_kind("dpm++2m") == SamplerKind::DpmSolver2M);  // stable-diffusion.cpp's spelling
  CHECK(sampler_kind(HeunOptions{}) == SamplerKind::Heun);
  CHECK(sampler_kind(EulerAncestralOptions{}) == SamplerKind::EulerAncestral);
  CHECK(sampler_kind(DdpmOptions{}) == SamplerKind::Ddpm);
  CHECK_THROWS_WITH(parse_sampler_kind("dpm2"), Catch::Contains("unknown sampler 'dpm2'; expected one of: ddim, "));

  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  Generator gen(0);
  const Tensor x_T = gen.normal({2, 2});
  const Denoiser den = [&](const Tensor& x, const Tensor& t) {
    return optimal_output(kPoints, x, t, s, Prediction::Epsilon);
  };
  for (const int64_t bad : {0, 101}) {
    for (const auto& [name, opt] : ode_samplers(bad)) {
      INFO(name);
      CHECK_THROWS_WITH(sample(den, s, x_T, gen, opt),
                        Catch::Contains(fmt::format("steps must be 1..100 (the schedule's timesteps), got {}", bad)));
    }
  }
  CHECK_THROWS_WITH(euler_ancestral_sample(den, s, x_T, gen, {.eta = 1.5}),
                    Catch::Contains("euler_ancestral_sample: eta must lie in [0, 1], got 1.5"));
  const Denoiser wrong = [](const Tensor& x, const Tensor&) { return x.reshape({-1}); };
  CHECK_THROWS_WITH(heun_sample(wrong, s, x_T, gen, {.steps = 3}),
                    Catch::Contains("heun_sample: the denoiser returned (4,) float32 at t = 99"));
  CHECK_THROWS_WITH(dpm_solver_2m_sample(Denoiser(), s, x_T, gen, {}), Catch::Contains("the denoiser is empty"));
  CHECK_THROWS_WITH(euler_sample(den, s, Tensor::scalar(1.0), gen, {}),
                    Catch::Contains("euler_sample: x_T must have a batch axis"));
}
