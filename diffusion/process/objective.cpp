// The training objective: targets, min-SNR weights, the loss, timestep sampling and conversions (see objective.h).
#include "diffusion/process/objective.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "diffusion/process/forward_process.h"
#include "tensor/random.h"

namespace tinydiff {

namespace {

void check_same(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name, const char* op) {
  check_defined(a, op);
  check_defined(b, op);
  check_floating(a, op);
  TD_CHECK(a.dim() >= 1, op, fmt::format("{} must have a batch axis, got a 0-d tensor", a_name));
  TD_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), op,
           fmt::format("{} is {} {} but {} is {} {}; expected equal shapes and dtypes", a_name, shape_str(a.shape()),
                       dtype_name(a.dtype()), b_name, shape_str(b.shape()), dtype_name(b.dtype())));
}

}  // namespace

const char* prediction_name(Prediction prediction) {
  switch (prediction) {
    case Prediction::Epsilon:
      return "epsilon";
    case Prediction::X0:
      return "x0";
    case Prediction::V:
      return "v";
  }
  return "?";
}

Prediction parse_prediction(const std::string& name) {
  if (name == "epsilon" || name == "eps") return Prediction::Epsilon;
  if (name == "x0" || name == "sample") return Prediction::X0;
  if (name == "v" || name == "v_prediction") return Prediction::V;
  throw Error(
      "parse_prediction",
      fmt::format("unknown prediction type '{}'; expected one of: epsilon (eps), x0 (sample), v (v_prediction)", name));
}

Tensor prediction_target(const Tensor& x0, const Tensor& noise, const Tensor& t, const NoiseSchedule& schedule,
                         Prediction prediction) {
  check_same(x0, "x0", noise, "noise", "prediction_target");
  check_timesteps(t, x0.size(0), schedule, "prediction_target");
  switch (prediction) {
    case Prediction::Epsilon:
      return noise;
    case Prediction::X0:
      return x0;
    case Prediction::V:
      return v_from_x0_eps(x0, noise, t, schedule);
  }
  throw Error("prediction_target", "invalid Prediction value");
}

Tensor min_snr_weights(const Tensor& t, const NoiseSchedule& schedule, Prediction prediction, double gamma) {
  TD_CHECK(gamma >= 0.0, "min_snr_weights", fmt::format("gamma must be >= 0 (0 turns weighting off), got {}", gamma));
  check_defined(t, "min_snr_weights");
  TD_CHECK(t.dim() == 1, "min_snr_weights", fmt::format("t must be (B), got {}", shape_str(t.shape())));
  const int64_t B = t.size(0);
  check_timesteps(t, B, schedule, "min_snr_weights");
  std::vector<double> w(static_cast<size_t>(B), 1.0);
  if (gamma > 0.0) {
    const std::vector<double> ts = t.to_vector();
    for (int64_t b = 0; b < B; ++b) {
      const double snr = schedule.value(schedule.snr, static_cast<int64_t>(ts[b]));
      const double clipped = std::min(snr, gamma);
      switch (prediction) {
        case Prediction::Epsilon:
          w[b] = clipped / snr;
          break;
        case Prediction::V:
          w[b] = clipped / (snr + 1.0);
          break;
        case Prediction::X0:
          w[b] = clipped;
          break;
      }
    }
  }
  return Tensor::from_vector(w, {B}, DType::F64);
}

Variable diffusion_loss(const Variable& model_output, const Tensor& x0, const Tensor& noise, const Tensor& t,
                        const NoiseSchedule& schedule, Prediction prediction, double min_snr_gamma) {
  TD_CHECK(model_output.defined(), "diffusion_loss", "model_output is undefined");
  const Tensor& out = model_output.value();
  check_same(out, "model_output", x0, "x0", "diffusion_loss");
  check_same(x0, "x0", noise, "noise", "diffusion_loss");
  const int64_t B = out.size(0);
  check_timesteps(t, B, schedule, "diffusion_loss");

  const Tensor target = prediction_target(x0, noise, t, schedule, prediction);  // (B, ...)
  const Variable sq = square(model_output - Variable(target));                  // (B, ...)
  // Mean over every axis but the batch: (B, ...) -> (B).
  std::vector<int64_t> axes;
  for (int64_t a = 1; a < out.dim(); ++a) axes.push_back(a);
  const Variable per_example = axes.empty() ? sq : mean(sq, axes);  // (B)
  if (min_snr_gamma == 0.0) return mean(per_example);
  const Tensor w = min_snr_weights(t, schedule, prediction, min_snr_gamma).to(out.dtype());  // (B)
  return mean(per_example * Variable(w));
}

Tensor sample_timesteps(Generator& gen, int64_t batch, int64_t num_timesteps) {
  TD_CHECK(batch >= 1, "sample_timesteps", fmt::format("batch must be >= 1, got {}", batch));
  TD_CHECK(num_timesteps >= 1, "sample_timesteps", fmt::format("num_timesteps must be >= 1, got {}", num_timesteps));
  return gen.randint(0, num_timesteps, {batch});
}

Tensor condition_dropout_mask(Generator& gen, int64_t batch, double p, DType dtype) {
  TD_CHECK(batch >= 1, "condition_dropout_mask", fmt::format("batch must be >= 1, got {}", batch));
  TD_CHECK(p >= 0.0 && p <= 1.0, "condition_dropout_mask", fmt::format("p must lie in [0, 1], got {}", p));
  return gen.bernoulli({batch}, p, dtype);
}

Tensor x0_from_eps(const Tensor& x_t, const Tensor& eps, const Tensor& t, const NoiseSchedule& schedule) {
  check_same(x_t, "x_t", eps, "eps", "x0_from_eps");
  // x_t, eps: (B, ...); coefficients (B, 1, ..., 1). 1/sqrt(abar) and sqrt(1/abar - 1) are formed in float64.
  const Tensor a = coefficient_at(sqrt(1.0 / schedule.alpha_bar), t, x_t, schedule);
  const Tensor b = coefficient_at(sqrt(1.0 / schedule.alpha_bar - 1.0), t, x_t, schedule);
  return x_t * a - eps * b;
}

Tensor eps_from_x0(const Tensor& x_t, const Tensor& x0, const Tensor& t, const NoiseSchedule& schedule) {
  check_same(x_t, "x_t", x0, "x0", "eps_from_x0");
  const Tensor a = coefficient_at(1.0 / schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  const Tensor b = coefficient_at(schedule.sqrt_alpha_bar / schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  return x_t * a - x0 * b;
}

Tensor v_from_x0_eps(const Tensor& x0, const Tensor& eps, const Tensor& t, const NoiseSchedule& schedule) {
  check_same(x0, "x0", eps, "eps", "v_from_x0_eps");
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x0, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x0, schedule);
  return eps * a - x0 * s;
}

Tensor x0_from_v(const Tensor& x_t, const Tensor& v, const Tensor& t, const NoiseSchedule& schedule) {
  check_same(x_t, "x_t", v, "v", "x0_from_v");
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x_t, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  return x_t * a - v * s;
}

Tensor eps_from_v(const Tensor& x_t, const Tensor& v, const Tensor& t, const NoiseSchedule& schedule) {
  check_same(x_t, "x_t", v, "v", "eps_from_v");
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x_t, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  return x_t * s + v * a;
}

Denoised denoise(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule,
                 Prediction prediction) {
  check_same(model_output, "model_output", x_t, "x_t", "denoise");
  switch (prediction) {
    case Prediction::Epsilon:
      return {x0_from_eps(x_t, model_output, t, schedule), model_output};
    case Prediction::X0:
      return {model_output, eps_from_x0(x_t, model_output, t, schedule)};
    case Prediction::V:
      return {x0_from_v(x_t, model_output, t, schedule), eps_from_v(x_t, model_output, t, schedule)};
  }
  throw Error("denoise", "invalid Prediction value");
}

Tensor convert_prediction(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule,
                          Prediction from, Prediction to) {
  if (from == to) {
    check_same(model_output, "model_output", x_t, "x_t", "convert_prediction");
    return model_output;
  }
  const Denoised d = denoise(model_output, x_t, t, schedule, from);
  switch (to) {
    case Prediction::Epsilon:
      return d.eps;
    case Prediction::X0:
      return d.x0;
    case Prediction::V:
      return v_from_x0_eps(d.x0, d.eps, t, schedule);
  }
  throw Error("convert_prediction", "invalid Prediction value");
}

}  // namespace tinydiff
