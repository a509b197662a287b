// Editing with the exact optimal denoiser (optimal_denoisers.h), no training: step ranges compose,
// SDEdit at strength 0 and 1 are the identity and plain sampling, DDIM inversion round-trips with an error
// that shrinks with the steps, and RePaint keeps the known pixels exactly and gives the unknown ones the
// conditional distribution of a correlated Gaussian.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffusion/process/forward_process.h"
#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/ddim_inversion.h"
#include "diffusion/sampling/ddpm.h"
#include "diffusion/sampling/editing.h"
#include "diffusion/sampling/sampler.h"
#include "diffusion/sampling/timestep_spacing.h"
#include "optimal_denoisers.h"

using namespace tinydiff;
using namespace tinydiff::testing;

namespace {

const PointMixture kPoints{{-2.0, 0.0, 1.5, 1.5, 1.0, -2.0}, {0.5, 0.3, 0.2}, 2};

template <typename Data>
Denoiser optimal_denoiser(const Data& data, const NoiseSchedule& s, Prediction p) {
  return Denoiser([&data, &s, p](const Tensor& x, const Tensor& t) { return optimal_output(data, x, t, s, p); }, p);
}

// Data N(mu, Sigma) in 2-D with a full covariance: x_t = a x0 + b eps (a = sqrt(abar), b^2 = 1 - abar) gives
// E[x0 | x_t] = mu + a Sigma (a^2 Sigma + b^2 I)^-1 (x_t - a mu), with the 2 x 2 inverse written out.
struct CorrelatedGaussian {
  double mu[2];
  double s11, s12, s22;  // Sigma

  std::vector<double> posterior_mean(const double* x, double abar) const {
    const double a = std::sqrt(abar), b2 = 1.0 - abar;
    const double m11 = abar * s11 + b2, m12 = abar * s12, m22 = abar * s22 + b2;  // M = a^2 Sigma + b^2 I
    const double det = m11 * m22 - m12 * m12;
    const double r0 = x[0] - a * mu[0], r1 = x[1] - a * mu[1];
    const double y0 = (m22 * r0 - m12 * r1) / det, y1 = (-m12 * r0 + m11 * r1) / det;  // M^-1 r
    return {mu[0] + a * (s11 * y0 + s12 * y1), mu[1] + a * (s12 * y0 + s22 * y1)};
  }
};

// The model's calls: timesteps and the x of the first call.
struct Recorder {
  std::vector<int64_t> ts;
  Tensor first_x;
};

Denoiser recording(const Denoiser& inner, Recorder& rec) {
  return Denoiser(
      [inner, &rec](const Tensor& x, const Tensor& t) {
        if (rec.ts.empty()) rec.first_x = x;
        rec.ts.push_back(static_cast<int64_t>(t.at({0})));
        return inner(x, t);
      },
      inner.prediction());
}

std::vector<SamplerOptions> some_samplers() {
  return {DdimOptions{.steps = 20},
          DdimOptions{.steps = 20, .eta = 1.0, .spacing = TimestepSpacing::Leading},
          DdpmOptions{},
          EulerOptions{.steps = 12},
          EulerAncestralOptions{.steps = 12, .sigmas = SigmaSpacing::Uniform},
          HeunOptions{.steps = 12},
          DpmSolverOptions{.steps = 12}};
}

// Model calls of `opt` for `steps` steps run one range at a time (each range ending above sigma = 0 but the last):
// Heun evaluates twice a step except on the last one to clean data.
size_t calls(const SamplerOptions& opt, int64_t steps) {
  return static_cast<size_t>(std::holds_alternative<HeunOptions>(opt) ? 2 * steps - 1 : steps);
}

// Whether `opt` steps in the VP form itself (DDIM, DDPM: bitwise results) rather than on a sigma grid, where x
// is converted to x / sqrt(abar) and back (equal up to that rounding).
bool vp_form(const SamplerOptions& opt) {
  return std::holds_alternative<DdimOptions>(opt) || std::holds_alternative<DdpmOptions>(opt);
}

}  // namespace

TEST_CASE("step ranges compose: steps 0..k-1 then k..S-1 equal 0..S-1, and an empty range returns x",
          "[diffusion][editing]") {
  // The editing contract (sampler.h) for every sampler: same Generator seed, so the same noise in the same
  // order. DDIM and DDPM step in the VP form itself: bitwise equal. The samplers on a sigma grid convert to
  // x / sqrt(abar) and back at the range's ends: equal up to that rounding (float32). DPM-Solver++(2M) restarts
  // its two-step history at k (its first step there is first order, as documented): close, not equal.
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  const Denoiser model = optimal_denoiser(kPoints, s, Prediction::V);
  for (const SamplerOptions& opt : some_samplers()) {
    const int64_t S = static_cast<int64_t>(sampler_timesteps(s, opt).size());
    INFO("sampler index " << opt.index() << ", S = " << S);
    Generator g1(3), g2(3);
    const Tensor x_T = g1.normal({64, 2});
    g2.normal({64, 2});
    const Tensor whole = sample(model, s, x_T, g1, opt);
    const int64_t k = S / 3;
    Recorder rec;
    const Tensor half = sample(model, s, x_T, g2, with_step_range(opt, {0, k}));
    const Tensor rest = sample(recording(model, rec), s, half, g2, with_step_range(opt, {k, S}));
    if (vp_form(opt))
      CHECK(max_abs_diff(whole, rest) == 0.0);
    else if (std::holds_alternative<DpmSolverOptions>(opt))
      CHECK(max_abs_diff(whole, rest) < 0.05);
    else
      CHECK(max_abs_diff(whole, rest) < 1e-5);
    REQUIRE(rec.ts.size() == calls(opt, S - k));
    CHECK(rec.ts.front() == sampler_timesteps(s, opt)[static_cast<size_t>(k)]);
    CHECK(max_abs_diff(sample(model, s, x_T, g2, with_step_range(opt, {k, k})), x_T) == 0.0);
    CHECK_THROWS_WITH(sample(model, s, x_T, g2, with_step_range(opt, {k + 1, k})),
                      Catch::Contains("does not fit a sampler of"));
  }
}

TEST_CASE("SDEdit: strength 0 returns the init image, strength 1 is plain sampling from the same noise",
          "[diffusion][editing]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 100});
  const Denoiser model = optimal_denoiser(kPoints, s, Prediction::Epsilon);
  Generator data(11);
  const Tensor init = data.normal({32, 2});  // any x0
  for (const SamplerOptions& opt : some_samplers()) {
    INFO("sampler index " << opt.index());
    Generator g1(5), g2(5);
    const Tensor noise = g1.normal({32, 2});
    g2.normal({32, 2});
    Recorder rec;
    const Tensor zero = edit_sample(recording(model, rec), s, noise, g1, opt, {.init = init, .strength = 0.0});
    CHECK(max_abs_diff(zero, init) == 0.0);
    CHECK(rec.ts.empty());
    const Tensor one = edit_sample(model, s, noise, g1, opt, {.init = init, .strength = 1.0});
    const Tensor plain = sample(model, s, noise, g2, opt);
    CHECK(max_abs_diff(one, plain) == 0.0);
  }
}

TEST_CASE("SDEdit runs the last round(s S) steps from the init image noised with q_sample", "[diffusion][editing]") {
  // Strength s: the first model call is at t_k, k = S - round(s S), on q_sample(init, t_k, noise), and there
  // are round(s S) calls. diffusers: 50 steps at strength 0.75 run 37 or 38 steps (int() there, round here: 38).
  CHECK(strength_first_step(0.75, 50) == 12);
  CHECK(strength_first_step(0.3, 10) == 7);
  CHECK(strength_first_step(1.0, 7) == 0);
  CHECK(strength_first_step(0.0, 7) == 7);
  CHECK_THROWS_WITH(strength_first_step(1.5, 10), Catch::Contains("strength must lie in [0, 1], got 1.5"));
  const NoiseSchedule s = make_schedule("cosine", {.num_timesteps = 200});
  const Denoiser model = optimal_denoiser(kPoints, s, Prediction::X0);
  Generator data(2);
  const Tensor init = data.normal({16, 2}), noise = data.normal({16, 2});
  for (const SamplerOptions& opt : some_samplers()) {
    const std::vector<int64_t> ts = sampler_timesteps(s, opt);
    const int64_t S = static_cast<int64_t>(ts.size());
    for (double strength : {0.3, 0.75}) {
      INFO("sampler index " << opt.index() << ", strength " << strength);
      const int64_t k = S - std::llround(strength * S);
      Recorder rec;
      Generator gen(1);
      edit_sample(recording(model, rec), s, noise, gen, opt, {.init = init, .strength = strength});
      REQUIRE(rec.ts.size() == calls(opt, S - k));
      CHECK(rec.ts.front() == ts[static_cast<size_t>(k)]);
      const Tensor tk = Tensor::from_indices(std::vector<int64_t>(16, ts[static_cast<size_t>(k)]), {16});
      CHECK(max_abs_diff(rec.first_x, q_sample(init, tk, noise, s)) <= (vp_form(opt) ? 0.0 : 1e-6));
    }
  }
}

TEST_CASE("DDIM inversion then DDIM sampling reconstructs x0, better with more steps", "[diffusion][editing]") {
  // Gaussian data N(mu, sigma^2 I), float64, 256 draws x0 from the data; eps-, x0- and v-prediction (the same
  // optimal model read three ways). Each inversion step evaluates the model at (x_s, t) instead of (x_t, t), an
  // error that vanishes as the steps grow (ddim_inversion.h). Measured RMSE (linear schedule, trailing): 10 steps
  // 0.186, 50 steps 0.048, 200 steps 0.0127, 1000 steps 0.00259 -- first order, the error halves when the steps
  // double. Asserted: the error falls at every refinement, the 200 -> 1000 ratio is below 0.3 (first order gives
  // 0.2; an inconsistent step would stall), and the error at 1000 steps is below 0.004. The inverted x_T of data
  // samples is ~N(0, I): mean 0.017 and variance 0.916 measured (the draws' own sample variance; 512 values:
  // standard errors 0.044 and 0.063), tolerance 0.2.
  const Gaussian data{{1.0, -0.5}, 0.5};
  const NoiseSchedule s = make_schedule("linear");
  Generator gen(8);
  const Tensor x0 = gen.normal({256, 2}, 0.0, 1.0, DType::F64) * 0.5 +
                    Tensor::from_vector({1.0, -0.5}, {1, 2}, DType::F64);  // (256, 2) ~ N(mu, sigma^2 I)
  for (Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
    INFO(prediction_name(p));
    const Denoiser model = optimal_denoiser(data, s, p);
    std::vector<double> errors;
    for (int64_t steps : {10, 50, 200, 1000}) {
      DdimOptions opt;
      opt.steps = steps;
      const Tensor x_T = ddim_invert(model, s, x0, opt);
      Generator unused(0);
      const Tensor back = ddim_sample(model, s, x_T, unused, opt);
      errors.push_back(std::sqrt(mean(square(back - x0)).item()));
      INFO(steps << " steps: RMSE " << errors.back());
      if (errors.size() > 1) CHECK(errors.back() < errors[errors.size() - 2]);
      if (steps == 1000) {
        CHECK(errors.back() < 0.004);
        CHECK(errors[3] / errors[2] < 0.3);
        CHECK(mean(x_T).item() == Approx(0.0).margin(0.2));
        CHECK(var(x_T).item() == Approx(1.0).margin(0.2));
      }
    }
  }
}

TEST_CASE("DDIM inversion step undoes the sampling step when the model output is the same", "[diffusion][editing]") {
  // With a constant model output (eps at both ends), ddim_step(ddim_inversion_step(x_s)) = x_s up to rounding.
  const NoiseSchedule s = make_schedule("cosine");
  Generator gen(4);
  const Tensor x_s = gen.normal({8, 3}, 0.0, 1.0, DType::F64), out = gen.normal({8, 3}, 0.0, 1.0, DType::F64);
  for (auto [from, to] : std::vector<std::pair<int64_t, int64_t>>{{-1, 19}, {100, 350}, {800, 999}}) {
    INFO(from << " -> " << to);
    const Tensor x_t = ddim_inversion_step(out, x_s, from, to, s, Prediction::Epsilon);
    const Tensor again = ddim_step(out, x_t, to, from, s, gen, {}, Prediction::Epsilon);
    CHECK(max_abs_diff(again, x_s) < 1e-9);
  }
  DdimOptions noisy;
  noisy.eta = 0.5;
  CHECK_THROWS_WITH(ddim_invert(optimal_denoiser(kPoints, s, Prediction::Epsilon), s, x_s.slice(1, 0, 2), noisy),
                    Catch::Contains("expected eta = 0"));
}

TEST_CASE("inpainting keeps the known pixels exactly and uses RePaint's steps", "[diffusion][editing]") {
  // Mask (1, 2): coordinate 0 known, 1 generated. At the end the known coordinate equals the init image
  // bitwise, for every sampler and strength; with resample R, every step but the last runs R times.
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 50});
  const Denoiser model = optimal_denoiser(kPoints, s, Prediction::Epsilon);
  Generator data(6);
  const Tensor init = data.normal({40, 2}), noise = data.normal({40, 2});
  const Tensor mask = Tensor::from_vector({0.0, 1.0}, {1, 2});
  for (const SamplerOptions& opt : some_samplers()) {
    const int64_t S = static_cast<int64_t>(sampler_timesteps(s, opt).size());
    for (double strength : {1.0, 0.5}) {
      for (int64_t R : {1, 3}) {
        INFO("sampler index " << opt.index() << ", strength " << strength << ", resample " << R);
        Generator gen(9);
        Recorder rec;
        const Tensor out = edit_sample(recording(model, rec), s, noise, gen, opt,
                                       {.init = init, .strength = strength, .mask = mask, .resample = R});
        CHECK(max_abs_diff(out.slice(1, 0, 1), init.slice(1, 0, 1)) == 0.0);
        CHECK(max_abs_diff(out.slice(1, 1, 2), init.slice(1, 1, 2)) > 0.1);  // the generated part is new
        const int64_t n = std::llround(strength * S);
        // Every step but the last runs R times, each a range of one step (Heun: 2 calls, 1 on the last step).
        const size_t per_step = std::holds_alternative<HeunOptions>(opt) ? 2 : 1;
        CHECK(rec.ts.size() == static_cast<size_t>((n - 1) * R) * per_step + 1);
      }
    }
  }
  Generator gen(0);
  const DdimOptions opt{.steps = 10};
  CHECK_THROWS_WITH(edit_sample(model, s, noise, gen, opt, {.init = init, .mask = mask * 0.5}),
                    Catch::Contains("values other than 0 (keep) and 1 (generate)"));
  CHECK_THROWS_WITH(edit_sample(model, s, noise, gen, opt, {.mask = mask}), Catch::Contains("needs an init image"));
  CHECK_THROWS_WITH(edit_sample(model, s, noise, gen, opt, {.init = init, .strength = -0.1}),
                    Catch::Contains("strength must lie in [0, 1]"));
  CHECK_THROWS_WITH(edit_sample(model, s, noise, gen, opt, {.init = init, .mask = mask, .resample = 0}),
                    Catch::Contains("resample must be at least 1"));
  CHECK_THROWS_WITH(edit_sample(model, s, noise, gen, opt, {.init = init, .mask = Tensor::ones({1, 3})}),
                    Catch::Contains("broadcast"));
}

TEST_CASE("RePaint on a correlated Gaussian draws the unknown coordinate from its conditional distribution",
          "[diffusion][editing]") {
  // Data N(mu, Sigma), mu = (0.5, -0.5), Sigma = 0.25 [[1, 0.8], [0.8, 1]]. Keep x1 = 1: the exact conditional of
  // x2 is N(-0.5 + 0.8 (1 - 0.5), 0.25 (1 - 0.64)) = N(-0.1, 0.09) (the marginal is N(-0.5, 0.25)). DDPM with
  // T = 250, 2000 samples (standard errors: mean 0.0067, variance 0.0028). Replacement alone (R = 1) does not
  // harmonise: measured mean -0.248, variance 0.125, far towards the marginal. Resampling fixes most of it:
  // R = 10 measured mean -0.108, variance 0.084 (R = 20: -0.113, 0.079; with T = 1000, R = 10: -0.117, 0.086;
  // RePaint stays approximate). Asserted: R = 10 within 0.03 of the mean and 0.015 of the variance, and R = 1
  // more than 0.1 off in the mean (so the test sees what resampling does).
  const CorrelatedGaussian data{{0.5, -0.5}, 0.25, 0.2, 0.25};
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 250});
  const Denoiser model = optimal_denoiser(data, s, Prediction::Epsilon);
  const int64_t N = 2000;
  const Tensor init = Tensor::from_vector(std::vector<double>(2 * N, 1.0), {N, 2});  // x1 = 1 (x2 ignored)
  const Tensor mask = Tensor::from_vector({0.0, 1.0}, {1, 2});
  auto moments = [&](int64_t R) {
    Generator gen(21);
    const Tensor noise = gen.normal({N, 2});
    const Tensor out = edit_sample(model, s, noise, gen, DdpmOptions{}, {.init = init, .mask = mask, .resample = R});
    CHECK(max_abs_diff(out.slice(1, 0, 1), init.slice(1, 0, 1)) == 0.0);
    const Tensor x2 = out.slice(1, 1, 2);
    return std::pair<double, double>(mean(x2).item(), var(x2).item());
  };
  const auto [m1, v1] = moments(1);
  const auto [m10, v10] = moments(10);
  INFO("R = 1: mean " << m1 << ", var " << v1 << "; R = 10: mean " << m10 << ", var " << v10);
  CHECK(m10 == Approx(-0.1).margin(0.03));
  CHECK(v10 == Approx(0.09).margin(0.015));
  CHECK(std::abs(m1 + 0.1) > 0.1);
}
