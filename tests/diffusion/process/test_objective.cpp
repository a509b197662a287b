// Tests of the training objective: targets, conversions between eps / x0 / v, min-SNR weights,
// the loss against a naive loop and its gradient against finite differences, timestep sampling
// and condition dropout.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "autograd/gradcheck.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/objective.h"

using namespace tinydiff;

namespace {

Tensor timesteps(std::vector<int64_t> t) {
  const int64_t n = static_cast<int64_t>(t.size());
  return Tensor::from_indices(t, {n});
}

}  // namespace

TEST_CASE("prediction targets are eps, x0 and v = sqrt(abar) eps - sqrt(1 - abar) x0", "[diffusion][objective]") {
  const NoiseSchedule s = make_schedule("linear");
  const Tensor x0 = Tensor::from_vector({1.0, -2.0, 0.5, 3.0}, {2, 2}, DType::F64);
  const Tensor eps = Tensor::from_vector({0.3, 0.1, -1.2, 0.7}, {2, 2}, DType::F64);
  const Tensor t = timesteps({499, 999});
  CHECK(max_abs_diff(prediction_target(x0, eps, t, s, Prediction::Epsilon), eps) == 0.0);
  CHECK(max_abs_diff(prediction_target(x0, eps, t, s, Prediction::X0), x0) == 0.0);
  const Tensor v = prediction_target(x0, eps, t, s, Prediction::V);
  // alpha_bar of the linear schedule at 499 and 999 (tools/schedule_reference.py).
  const double abar[2] = {0.078587242881778208, 4.0358297653756754e-05};
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t d = 0; d < 2; ++d)
      CHECK(v.at({b, d}) ==
            Approx(std::sqrt(abar[b]) * eps.at({b, d}) - std::sqrt(1.0 - abar[b]) * x0.at({b, d})).epsilon(1e-13));
}

TEST_CASE("eps, x0 and v predictions convert into each other exactly", "[diffusion][objective]") {
  // Build x_t from known (x0, eps); then each exact prediction must give back both x0 and eps.
  // float64; the worst amplification is 1/sqrt(abar) ~ 2e4 at cosine t = 999, so errors stay < 1e-9.
  for (const std::string name : {"linear", "cosine"}) {
    INFO(name);
    const NoiseSchedule s = make_schedule(name);
    Generator gen(3);
    const Tensor x0 = gen.normal({4, 3, 2}, 0.0, 1.0, DType::F64);
    const Tensor eps = gen.normal({4, 3, 2}, 0.0, 1.0, DType::F64);
    const Tensor t = timesteps({0, 1, 500, 999});
    const Tensor xt = q_sample(x0, t, eps, s);
    const Tensor v = v_from_x0_eps(x0, eps, t, s);
    for (Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
      INFO(prediction_name(p));
      const Tensor out = p == Prediction::Epsilon ? eps : (p == Prediction::X0 ? x0 : v);
      const Denoised d = denoise(out, xt, t, s, p);
      CHECK(max_abs_diff(d.x0, x0) < 1e-9);
      CHECK(max_abs_diff(d.eps, eps) < 1e-9);
      CHECK(max_abs_diff(convert_prediction(out, xt, t, s, p, Prediction::V), v) < 1e-9);
      CHECK(max_abs_diff(convert_prediction(out, xt, t, s, p, Prediction::Epsilon), eps) < 1e-9);
      CHECK(max_abs_diff(convert_prediction(out, xt, t, s, p, Prediction::X0), x0) < 1e-9);
    }
    CHECK(max_abs_diff(x0_from_v(xt, v, t, s), x0) < 1e-12);
    CHECK(max_abs_diff(eps_from_v(xt, v, t, s), eps) < 1e-12);
  }
}

TEST_CASE("min-SNR-gamma weights follow Hang et al. 2023 for each parameterisation", "[diffusion][objective]") {
  const NoiseSchedule s = make_schedule("linear");
  // SNR of the linear schedule at 0 and 499 (Python reference): 9999.0000000011005 and 0.085289944462636824.
  const double snr0 = 9999.0000000011005, snr499 = 0.085289944462636824;
  const Tensor t = timesteps({0, 499});
  const std::vector<double> we = min_snr_weights(t, s, Prediction::Epsilon, 5.0).to_vector();
  const std::vector<double> wv = min_snr_weights(t, s, Prediction::V, 5.0).to_vector();
  const std::vector<double> wx = min_snr_weights(t, s, Prediction::X0, 5.0).to_vector();
  CHECK(we[0] == Approx(5.0 / snr0).epsilon(1e-12));  // min(SNR, 5) / SNR
  CHECK(we[1] == Approx(1.0).epsilon(1e-12));
  CHECK(wv[0] == Approx(5.0 / (snr0 + 1.0)).epsilon(1e-12));  // min(SNR, 5) / (SNR + 1)
  CHECK(wv[1] == Approx(snr499 / (snr499 + 1.0)).epsilon(1e-12));
  CHECK(wx[0] == Approx(5.0).epsilon(1e-12));  // min(SNR, 5)
  CHECK(wx[1] == Approx(snr499).epsilon(1e-12));
  CHECK(min_snr_weights(t, s, Prediction::V, 0.0).to_vector() == std::vector<double>{1.0, 1.0});
  CHECK_THROWS_WITH(min_snr_weights(t, s, Prediction::V, -1.0), Catch::Contains("gamma must be >= 0"));
}

TEST_CASE("diffusion_loss equals a naive weighted mean of squared errors", "[diffusion][objective]") {
  const NoiseSchedule s = make_schedule("cosine");
  Generator gen(8);
  const Tensor x0 = gen.normal({3, 2, 4}, 0.0, 1.0, DType::F64);
  const Tensor eps = gen.normal({3, 2, 4}, 0.0, 1.0, DType::F64);
  const Tensor out = gen.normal({3, 2, 4}, 0.0, 1.0, DType::F64);
  const Tensor t = timesteps({2, 400, 990});
  for (Prediction p : {Prediction::Epsilon, Prediction::X0, Prediction::V}) {
    for (double gamma : {0.0, 5.0}) {
      INFO(prediction_name(p) << " gamma " << gamma);
      // Naive: L = 1/B sum_b w_b 1/N sum_i (out - target)^2, with the target and weights built by hand.
      double expected = 0.0;
      for (int64_t b = 0; b < 3; ++b) {
        const int64_t tb = static_cast<int64_t>(t.at({b}));
        const double abar = s.alpha_bar.at({tb}), snr = abar / (1.0 - abar);
        double w = 1.0;
        if (gamma > 0) {
          const double m = std::min(snr, gamma);
          w = p == Prediction::Epsilon ? m / snr : (p == Prediction::V ? m / (snr + 1.0) : m);
        }
        double se = 0.0;
        for (int64_t i = 0; i < 2; ++i) {
          for (int64_t j = 0; j < 4; ++j) {
            const double e = eps.at({b, i, j}), x = x0.at({b, i, j});
            const double y = p == Prediction::Epsilon ? e
                             : p == Prediction::X0    ? x
                                                      : std::sqrt(abar) * e - std::sqrt(1.0 - abar) * x;
            se += std::pow(out.at({b, i, j}) - y, 2);
          }
        }
        expected += w * se / 8.0 / 3.0;
      }
      const Variable loss = diffusion_loss(Variable(out), x0, eps, t, s, p, gamma);
      CHECK(loss.numel() == 1);
      CHECK(loss.item() == Approx(expected).epsilon(1e-12));
      // The gradient with respect to the model output, against float64 central differences.
      const GradcheckResult r = gradcheck(
          "diffusion_loss",
          [&](const std::vector<Variable>& v) { return diffusion_loss(v[0], x0, eps, t, s, p, gamma); }, {out});
      INFO(r.message);
      CHECK(r.ok);
    }
  }
  // A batch of vectors (B,) also works (no per-example axes to average).
  const Tensor o1 = Tensor::from_vector({1.0, 2.0}, {2}, DType::F64);
  const Tensor z1 = Tensor::zeros({2}, DType::F64);
  CHECK(diffusion_loss(Variable(o1), z1, z1, timesteps({0, 1}), s, Prediction::Epsilon).item() == Approx(2.5));
}

TEST_CASE("sample_timesteps is uniform on 0..T-1 and condition dropout has rate p", "[diffusion][objective]") {
  Generator gen(21);
  const int64_t B = 100000, T = 10;
  const Tensor t = sample_timesteps(gen, B, T);
  REQUIRE(t.dtype() == DType::I64);
  REQUIRE(t.shape() == Shape{B});
  std::vector<int64_t> counts(T, 0);
  for (double v : t.to_vector()) {
    REQUIRE(v >= 0);
    REQUIRE(v < T);
    ++counts[static_cast<size_t>(v)];
  }
  double chi2 = 0.0;
  for (int64_t c : counts) chi2 += std::pow(c - B / T, 2) / (B / T);
  CHECK(chi2 < 27.88);  // chi-square, 9 degrees of freedom, p = 0.001

  const Tensor m = condition_dropout_mask(gen, B, 0.1);
  CHECK(m.dtype() == DType::F32);
  double dropped = 0.0;
  for (double v : m.to_vector()) {
    REQUIRE((v == 0.0 || v == 1.0));
    dropped += v;
  }
  // Binomial standard error sqrt(0.1 * 0.9 / 1e5) = 0.00095; tolerance 5 standard errors.
  CHECK(dropped / B == Approx(0.1).margin(0.0047));
  CHECK(sum(condition_dropout_mask(gen, 100, 0.0)).item() == 0.0);
  CHECK(sum(condition_dropout_mask(gen, 100, 1.0)).item() == 100.0);
}

TEST_CASE("objective errors name the op and the problem", "[diffusion][objective][errors]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 50});
  Generator gen(0);
  CHECK(parse_prediction("v_prediction") == Prediction::V);
  CHECK(parse_prediction("eps") == Prediction::Epsilon);
  CHECK(std::string(prediction_name(Prediction::X0)) == "x0");
  CHECK_THROWS_WITH(parse_prediction("score"),
                    Catch::Contains("unknown prediction type 'score'; expected one of: epsilon"));
  const Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(diffusion_loss(Variable(Tensor::zeros({2, 4})), x, x, timesteps({0, 1}), s, Prediction::Epsilon),
                    Catch::Contains("diffusion_loss: model_output is (2, 4) float32 but x0 is (2, 3) float32"));
  CHECK_THROWS_WITH(diffusion_loss(Variable(x), x, x, timesteps({0, 50}), s, Prediction::Epsilon),
                    Catch::Contains("t[1] = 50 is out of range; expected 0 <= t <= 49"));
  CHECK_THROWS_WITH(condition_dropout_mask(gen, 4, 1.5), Catch::Contains("p must lie in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(sample_timesteps(gen, 0, 10), Catch::Contains("batch must be >= 1"));
  CHECK_THROWS_WITH(denoise(x, Tensor::zeros({3, 3}), timesteps({0, 1}), s, Prediction::V),
                    Catch::Contains("denoise: model_output is (2, 3) float32 but x_t is (3, 3) float32"));
}
