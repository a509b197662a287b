// What the network predicts (eps, x0, v) and the conversions between them. See prediction.h.
#include "diffusion/process/prediction.h"

#include <fmt/format.h>

#include "diffusion/process/forward_process.h"

namespace tinydiff {

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

void check_same_batch(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name, const char* op) {
  check_defined(a, op);
  check_defined(b, op);
  check_floating(a, op);
  TD_CHECK(a.dim() >= 1, op, fmt::format("{} must have a batch axis, got a 0-d tensor", a_name));
  TD_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), op,
           fmt::format("{} is {} {} but {} is {} {}; expected equal shapes and dtypes", a_name, shape_str(a.shape()),
                       dtype_name(a.dtype()), b_name, shape_str(b.shape()), dtype_name(b.dtype())));
}

Tensor x0_from_eps(const Tensor& x_t, const Tensor& eps, const Tensor& t, const NoiseSchedule& schedule) {
  check_same_batch(x_t, "x_t", eps, "eps", "x0_from_eps");
  // x_t, eps: (B, ...); coefficients (B, 1, ..., 1). 1/sqrt(abar) and sqrt(1/abar - 1) are formed in float64.
  const Tensor a = coefficient_at(sqrt(1.0 / schedule.alpha_bar), t, x_t, schedule);
  const Tensor b = coefficient_at(sqrt(1.0 / schedule.alpha_bar - 1.0), t, x_t, schedule);
  return x_t * a - eps * b;
}

Tensor eps_from_x0(const Tensor& x_t, const Tensor& x0, const Tensor& t, const NoiseSchedule& schedule) {
  check_same_batch(x_t, "x_t", x0, "x0", "eps_from_x0");
  const Tensor a = coefficient_at(1.0 / schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  const Tensor b = coefficient_at(schedule.sqrt_alpha_bar / schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  return x_t * a - x0 * b;
}

Tensor v_from_x0_eps(const Tensor& x0, const Tensor& eps, const Tensor& t, const NoiseSchedule& schedule) {
  check_same_batch(x0, "x0", eps, "eps", "v_from_x0_eps");
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x0, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x0, schedule);
  return eps * a - x0 * s;
}

Tensor x0_from_v(const Tensor& x_t, const Tensor& v, const Tensor& t, const NoiseSchedule& schedule) {
  check_same_batch(x_t, "x_t", v, "v", "x0_from_v");
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x_t, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  return x_t * a - v * s;
}

Tensor eps_from_v(const Tensor& x_t, const Tensor& v, const Tensor& t, const NoiseSchedule& schedule) {
  check_same_batch(x_t, "x_t", v, "v", "eps_from_v");
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x_t, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x_t, schedule);
  return x_t * s + v * a;
}

Denoised denoise(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule,
                 Prediction prediction) {
  check_same_batch(model_output, "model_output", x_t, "x_t", "denoise");
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
    check_same_batch(model_output, "model_output", x_t, "x_t", "convert_prediction");
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
