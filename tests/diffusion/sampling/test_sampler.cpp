// Tests of the sampler machinery: timestep spacings (exact lists), the per-step callback,
// determinism, DDIM(eta = 1, all steps) == DDPM, classifier-free guidance's batching, and errors.
// The distributional tests with closed-form optimal denoisers are in test_sampler_exact.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
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

using Steps = std::vector<int64_t>;

/// A simple deterministic "model": eps = 0.1 x + 0.01 t, shaped like x (enough to exercise the plumbing).
Denoiser linear_model() {
  return [](const Tensor& x, const Tensor& t) {
    const Tensor tf = t.to(x.dtype()).reshape({x.size(0), 1});  // (B, 1)
    return x * 0.1 + tf * 0.01;
  };
}

}  // namespace

TEST_CASE("timestep spacings give the documented lists", "[diffusion][sampler]") {
  // Expected lists computed with numpy as diffusers does (tests/diffusion comment, numpy 1.24):
  //   leading:  (np.arange(0, S) * (T // S))[::-1]
  //   trailing: np.round(np.arange(T, 0, -T / S)).astype(int) - 1
  //   linspace: np.linspace(0, T - 1, S).round()[::-1]
  CHECK(sampling_timesteps(1000, 10, TimestepSpacing::Leading) ==
        Steps{900, 800, 700, 600, 500, 400, 300, 200, 100, 0});
  CHECK(sampling_timesteps(1000, 10, TimestepSpacing::Trailing) ==
        Steps{999, 899, 799, 699, 599, 499, 399, 299, 199, 99});
  CHECK(sampling_timesteps(1000, 10, TimestepSpacing::Linspace) ==
        Steps{999, 888, 777, 666, 555, 444, 333, 222, 111, 0});
  CHECK(sampling_timesteps(1000, 3, TimestepSpacing::Leading) == Steps{666, 333, 0});
  CHECK(sampling_timesteps(1000, 3, TimestepSpacing::Trailing) == Steps{999, 666, 332});
  CHECK(sampling_timesteps(1000, 3, TimestepSpacing::Linspace) == Steps{999, 500, 0});
  // Rounding half to even, like numpy: 7.5 -> 8 and 2.5 -> 2 (trailing), 24.5 -> 24 (linspace).
  CHECK(sampling_timesteps(10, 4, TimestepSpacing::Trailing) == Steps{9, 7, 4, 1});
  CHECK(sampling_timesteps(50, 7, TimestepSpacing::Trailing) == Steps{49, 42, 35, 28, 20, 13, 6});
  CHECK(sampling_timesteps(50, 7, TimestepSpacing::Linspace) == Steps{49, 41, 33, 24, 16, 8, 0});
  // All T steps visit every timestep once, whatever the spacing.
  Steps all(1000);
  for (int64_t i = 0; i < 1000; ++i) all[i] = 999 - i;
  for (const TimestepSpacing sp : {TimestepSpacing::Leading, TimestepSpacing::Trailing, TimestepSpacing::Linspace})
    CHECK(sampling_timesteps(1000, 1000, sp) == all);
  CHECK(sampling_timesteps(1000, 1, TimestepSpacing::Leading) == Steps{0});
  CHECK(sampling_timesteps(1000, 1, TimestepSpacing::Trailing) == Steps{999});
}

TEST_CASE("the callback sees every step with its timestep, x_t and the predicted x0", "[diffusion][sampler]") {
  const NoiseSchedule s = make_schedule("linear");
  Generator gen(1);
  const Tensor xT = gen.normal({4, 2});
  DdimOptions opt;
  opt.steps = 10;
  opt.spacing = TimestepSpacing::Trailing;
  Steps seen_t, seen_step;
  Tensor first_x, last_x0;
  opt.callback = [&](int64_t step, int64_t t, const Tensor& x_t, const Tensor& x0) {
    seen_step.push_back(step);
    seen_t.push_back(t);
    if (step == 0) first_x = x_t.clone();
    last_x0 = x0.clone();
    REQUIRE(x0.shape() == Shape{4, 2});
  };
  const Tensor out = ddim_sample(linear_model(), s, xT, gen, opt);
  CHECK(seen_step == Steps{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(seen_t == Steps{999, 899, 799, 699, 599, 499, 399, 299, 199, 99});
  CHECK(max_abs_diff(first_x, xT) == 0.0);   // step 0 sees x_T itself
  CHECK(max_abs_diff(last_x0, out) == 0.0);  // DDIM's last step returns the predicted x0

  seen_t.clear();
  seen_step.clear();
  DdpmOptions ddpm;
  ddpm.callback = opt.callback;
  const NoiseSchedule small = make_schedule("linear", {.num_timesteps = 20});
  const Tensor out2 = sample(linear_model(), small, xT, gen, ddpm);
  CHECK(seen_t.size() == 20);
  CHECK(seen_t.front() == 19);
  CHECK(seen_t.back() == 0);
  CHECK(max_abs_diff(last_x0, out2) == 0.0);  // DDPM's last step (t = 0) adds no noise: output = x0
}

TEST_CASE("samplers are deterministic given the seed", "[diffusion][sampler]") {
  const NoiseSchedule s = make_schedule("cosine", {.num_timesteps = 100});
  for (const std::string name : {"ddpm", "ddim"}) {
    INFO(name);
    SamplerOptions opt = DdpmOptions{};
    if (name == "ddim") opt = DdimOptions{.steps = 25, .eta = 0.5};
    auto run = [&](uint64_t seed) {
      Generator gen(seed);
      const Tensor xT = gen.normal({8, 2});
      return sample(linear_model(), s, xT, gen, opt);
    };
    const Tensor a = run(7), b = run(7), c = run(8);
    CHECK(max_abs_diff(a, b) == 0.0);
    CHECK(max_abs_diff(a, c) > 1e-3);
  }
  // eta = 0 uses no randomness: the same x_T gives the same sample whatever the generator's state.
  DdimOptions opt;
  opt.steps = 10;
  Generator g1(1), g2(2);
  const Tensor xT = g1.normal({8, 2});
  CHECK(max_abs_diff(ddim_sample(linear_model(), s, xT, g1, opt), ddim_sample(linear_model(), s, xT, g2, opt)) == 0.0);
}

TEST_CASE("DDIM with eta = 1 over all T steps is DDPM with beta-tilde variance", "[diffusion][sampler]") {
  // Song et al. 2021, sec. 4.1: sigma_t(eta = 1) = sqrt(beta-tilde_t), and with the full sequence the DDIM
  // mean sqrt(abar_{t-1}) x0 + sqrt(1 - abar_{t-1} - sigma^2) eps equals the DDPM posterior mean. Both
  // samplers draw one N(0, I) per step except the last, in the same order, so with the same seed the
  // results agree to float64 rounding (tolerance 1e-9 after 200 steps of O(1) values).
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 200, .beta_start = 1e-3, .beta_end = 0.05});
  // Gaussian data (a continuous output: with point data both variances would land on the same points).
  const Gaussian data{{0.5, -0.5}, 0.7};
  const Denoiser model = [&](const Tensor& x, const Tensor& t) {
    return optimal_output(data, x, t, s, Prediction::Epsilon);
  };
  Generator g0(3);
  const Tensor xT = g0.normal({16, 2}, 0.0, 1.0, DType::F64);
  DdimOptions ddim_opt;
  ddim_opt.steps = 200;
  ddim_opt.eta = 1.0;
  DdpmOptions ddpm_opt;
  ddpm_opt.variance = DdpmVariance::BetaTilde;
  Generator ga(9), gb(9);
  const Tensor a = ddim_sample(model, s, xT, ga, ddim_opt);
  const Tensor b = ddpm_sample(model, s, xT, gb, ddpm_opt);
  CHECK(max_abs_diff(a, b) < 1e-9);
  // ... and the "beta" variance really is different.
  ddpm_opt.variance = DdpmVariance::Beta;
  Generator gc(9);
  CHECK(max_abs_diff(ddpm_sample(model, s, xT, gc, ddpm_opt), b) > 1e-3);
}

TEST_CASE("clip_x0 keeps the predicted x0 (and so the result) in (-1, 1)", "[diffusion][sampler]") {
  // Data points outside [-1, 1]^2: without clipping the samples land on them; with clipping every
  // predicted x0 the callback sees, and the final sample (the last predicted x0), lies in [-1, 1].
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100, .beta_start = 1e-3, .beta_end = 0.1});
  const PointMixture data{{-2.0, 0.5, 3.0, -1.5}, {0.5, 0.5}, 2};
  const Denoiser model = [&](const Tensor& x, const Tensor& t) {
    return optimal_output(data, x, t, s, Prediction::Epsilon);
  };
  for (const std::string sampler : {"ddpm", "ddim"}) {
    INFO(sampler);
    double worst = 0.0;
    const StepCallback callback = [&](int64_t, int64_t, const Tensor&, const Tensor& x0) {
      for (double v : x0.to_vector()) worst = std::max(worst, std::abs(v));
    };
    const auto options = [&](bool clip) -> SamplerOptions {
      if (sampler == "ddpm") return DdpmOptions{.clip_x0 = clip, .callback = callback};
      return DdimOptions{.steps = 20, .spacing = TimestepSpacing::Leading, .clip_x0 = clip, .callback = callback};
    };
    Generator g1(4), g2(4);
    const Tensor unclipped = sample(model, s, g1.normal({200, 2}), g1, options(false));
    CHECK(worst > 1.5);  // the points at |x| = 2, 3 are reached
    worst = 0.0;
    const Tensor clipped = sample(model, s, g2.normal({200, 2}), g2, options(true));
    CHECK(worst <= 1.0);
    for (double v : clipped.to_vector()) CHECK(std::abs(v) <= 1.0);
  }
}

TEST_CASE("guidance calls the model once on (x, x) and combines u + w (c - u)", "[diffusion][sampler][guidance]") {
  int calls = 0;
  // A batched model whose first half (unconditional) returns x and second half (conditional) 3x + 1.
  Denoiser model = [&](const Tensor& x2, const Tensor& t2) {
    ++calls;
    REQUIRE(x2.size(0) == 6);
    REQUIRE(t2.shape() == Shape{6});
    REQUIRE(t2.at({0}) == t2.at({3}));
    const std::vector<Tensor> h = split(x2, {3, 3}, 0);
    return concat({h[0], h[1] * 3.0 + 1.0}, 0);
  };
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor t = Tensor::from_indices({5, 5, 5}, {3});
  for (double w : {0.0, 1.0, 2.5}) {
    const Tensor out = classifier_free_guidance(model, w)(x, t);
    // u = x, c = 3x + 1: u + w (c - u) = x + w (2x + 1).
    CHECK(max_abs_diff(out, x + (x * 2.0 + 1.0) * w) < 1e-6);
  }
  CHECK(calls == 3);
  Denoiser bad = [](const Tensor& x2, const Tensor&) { return x2.slice(0, 0, 1); };
  CHECK_THROWS_WITH(
      classifier_free_guidance(bad, 2.0)(x, t),
      Catch::Contains("classifier_free_guidance: the model returned (1, 2) for the doubled batch (6, 2)"));
}

TEST_CASE("sampler errors name the problem", "[diffusion][sampler][errors]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  Generator gen(0);
  const Tensor xT = gen.normal({2, 2});
  DdimOptions opt;
  opt.steps = 0;
  CHECK_THROWS_WITH(
      ddim_sample(linear_model(), s, xT, gen, opt),
      Catch::Contains("sampling_timesteps: steps must lie in 1..100 (the number of training timesteps T), "
                      "got 0"));
  opt.steps = 101;
  CHECK_THROWS_WITH(ddim_sample(linear_model(), s, xT, gen, opt), Catch::Contains("steps must lie in 1..100"));
  opt.steps = 10;
  opt.eta = -0.1;
  CHECK_THROWS_WITH(ddim_sample(linear_model(), s, xT, gen, opt),
                    Catch::Contains("ddim_sample: eta must lie in [0, 1], got -0.1"));
  opt.eta = 1.5;
  CHECK_THROWS_WITH(ddim_sample(linear_model(), s, xT, gen, opt), Catch::Contains("eta must lie in [0, 1], got 1.5"));
  opt.eta = 0.0;
  // Names are parsed at a program's edge.
  CHECK_THROWS_WITH(parse_timestep_spacing("middle"),
                    Catch::Contains("unknown timestep spacing 'middle'; expected one of: leading, trailing, linspace"));
  CHECK_THROWS_WITH(
      parse_sampler_kind("lms"),
      Catch::Contains("unknown sampler 'lms'; expected one of: ddim, ddpm, euler, euler_a, heun, dpmpp_2m"));
  CHECK(parse_sampler_kind("ddpm") == SamplerKind::Ddpm);
  CHECK(parse_timestep_spacing("linspace") == TimestepSpacing::Linspace);
  CHECK(timestep_spacing_name(TimestepSpacing::Trailing) == "trailing");
  CHECK_THROWS_WITH(sample(Denoiser(), s, xT, gen, opt), Catch::Contains("the denoiser is empty"));
  const Denoiser wrong = [](const Tensor& x, const Tensor&) { return x.reshape({-1}); };
  CHECK_THROWS_WITH(
      sample(wrong, s, xT, gen, DdpmOptions{.variance = DdpmVariance::Beta}),
      Catch::Contains("ddpm_sample: the denoiser returned (4,) float32 at t = 99 for x_t of (2, 2) float32; "
                      "expected the shape and dtype of x_t"));
  opt.spacing = TimestepSpacing::Leading;
  CHECK_THROWS_WITH(sample(wrong, s, xT, gen, opt),
                    Catch::Contains("ddim_sample: the denoiser returned (4,) float32 at t = 90"));
  CHECK_THROWS_WITH(ddim_sample(linear_model(), s, Tensor::scalar(1.0), gen, opt),
                    Catch::Contains("x_T must have a batch axis"));
}

TEST_CASE("the sampler options are honoured", "[diffusion][sampler]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  Generator g0(6);
  const Tensor xT = g0.normal({8, 2});
  Steps first;  // the first timestep of every run
  const StepCallback record = [&](int64_t step, int64_t t, const Tensor&, const Tensor&) {
    if (step == 0) first.push_back(t);
  };
  // The library default is the trailing spacing: 10 steps of T = 100 start at t = T - 1 = 99;
  // leading starts at (S - 1) k = 90, linspace at 99 (timestep_spacing.h).
  DdimOptions opt;
  CHECK(opt.spacing == TimestepSpacing::Trailing);
  opt.steps = 10;
  opt.callback = record;
  Generator ga(1), gb(1), gc(1);
  const Tensor eta0 = ddim_sample(linear_model(), s, xT, ga, opt);
  opt.spacing = TimestepSpacing::Leading;
  const Tensor leading = ddim_sample(linear_model(), s, xT, gb, opt);
  CHECK(first == Steps{99, 90});
  CHECK(max_abs_diff(eta0, leading) > 1e-3);
  // eta = 1 adds noise (from the generator), eta = 0 none: with the same seed the results differ.
  opt.spacing = TimestepSpacing::Trailing;
  opt.eta = 1.0;
  const Tensor eta1 = ddim_sample(linear_model(), s, xT, gc, opt);
  CHECK(max_abs_diff(eta0, eta1) > 1e-3);
  // sample() runs the sampler its options hold: DDPM visits all T timesteps from T - 1.
  first.clear();
  Generator gd(1);
  sample(linear_model(), s, xT, gd, DdpmOptions{.callback = record});
  CHECK(first == Steps{99});
}

TEST_CASE("the samplers read the output as the denoiser's prediction type", "[diffusion][sampler]") {
  // A "model" that returns the true v = sqrt(abar) eps - sqrt(1 - abar) x0 for the single data point
  // x0 = (0.3, -0.6): read as v, every predicted x0 of both samplers is that point (to float32
  // rounding, 1e-4) and so is the sample; read as eps (the same function without its prediction type)
  // the predicted x0 is far from it at the first, noisiest step.
  const NoiseSchedule s = make_schedule("cosine", {.num_timesteps = 100});
  const Tensor point = Tensor::from_vector({0.3, -0.6}, {1, 2});  // (1, 2)
  const Denoiser::Function true_v = [&](const Tensor& x, const Tensor& t) {
    const Tensor x0 = point.expand({x.size(0), 2}).contiguous();  // (B, 2)
    return v_from_x0_eps(x0, eps_from_x0(x, x0, t, s), t, s);
  };
  const Denoiser as_v(true_v, Prediction::V);
  CHECK(as_v.prediction() == Prediction::V);
  const Denoiser as_eps = true_v;
  const Tensor target = point.expand({4, 2}).contiguous();  // (4, 2)
  double worst = 0.0, first = 0.0;
  const StepCallback measure = [&](int64_t step, int64_t, const Tensor&, const Tensor& x0) {
    const double d = max_abs_diff(x0, target);
    worst = std::max(worst, d);
    if (step == 0) first = d;
  };
  for (const SamplerOptions& opt : {SamplerOptions(DdimOptions{.steps = 10, .callback = measure}),
                                    SamplerOptions(DdpmOptions{.callback = measure})}) {
    Generator g1(2), g2(2);
    const Tensor xT = g1.normal({4, 2});
    g2.normal({4, 2});
    worst = 0.0;
    const Tensor x = sample(as_v, s, xT, g1, opt);
    CHECK(worst < 1e-4);
    CHECK(max_abs_diff(x, target) < 1e-4);
    sample(as_eps, s, xT, g2, opt);
    CHECK(first > 0.1);
  }
  // Guidance keeps the prediction type of the model it wraps.
  CHECK(classifier_free_guidance(as_v, 2.0).prediction() == Prediction::V);
}
