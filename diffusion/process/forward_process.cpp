// The forward process q: one step, the closed form and the posterior mean (formulas in forward_process.h).
#include "diffusion/process/forward_process.h"

#include <fmt/format.h>

namespace tinydiff {

namespace {

/// x (B, ...) must be a floating tensor with at least one axis; `other` (noise or x_t) must match it.
void check_batch_pair(const Tensor& x, const char* x_name, const Tensor& other, const char* other_name,
                      const char* op) {
  check_defined(x, op);
  check_defined(other, op);
  check_floating(x, op);
  TD_CHECK(x.dim() >= 1, op, fmt::format("{} must have a batch axis, got a 0-d tensor", x_name));
  TD_CHECK(other.shape() == x.shape(), op,
           fmt::format("{} has shape {} but {} has shape {}; expected equal shapes", other_name,
                       shape_str(other.shape()), x_name, shape_str(x.shape())));
  TD_CHECK(other.dtype() == x.dtype(), op,
           fmt::format("{} is {} but {} is {}; expected equal dtypes", other_name, dtype_name(other.dtype()), x_name,
                       dtype_name(x.dtype())));
}

}  // namespace

void check_timesteps(const Tensor& t, int64_t batch, const NoiseSchedule& schedule, const char* op) {
  check_defined(t, op);
  TD_CHECK(t.dtype() == DType::I64, op,
           fmt::format("timesteps t must be int64, got {} of shape {}", dtype_name(t.dtype()), shape_str(t.shape())));
  TD_CHECK(
      t.dim() == 1 && t.size(0) == batch, op,
      fmt::format("timesteps t have shape {}; expected {}, one per example", shape_str(t.shape()), shape_str({batch})));
  const Tensor tc = t.contiguous();
  const int64_t* pt = tc.data<int64_t>();
  const int64_t T = schedule.num_timesteps;
  for (int64_t b = 0; b < batch; ++b) {
    TD_CHECK(pt[b] >= 0 && pt[b] < T, op,
             fmt::format("timestep t[{}] = {} is out of range; expected 0 <= t <= {} (T = {}, 0-based)", b, pt[b],
                         T - 1, T));
  }
}

Tensor coefficient_at(const Tensor& coefficients, const Tensor& t, const Tensor& x, const NoiseSchedule& schedule) {
  check_defined(x, "coefficient_at");
  TD_CHECK(x.dim() >= 1, "coefficient_at", "x must have a batch axis, got a 0-d tensor");
  TD_CHECK(
      coefficients.dim() == 1 && coefficients.size(0) == schedule.num_timesteps, "coefficient_at",
      fmt::format("expected a ({},) schedule tensor, got {}", schedule.num_timesteps, shape_str(coefficients.shape())));
  const int64_t B = x.size(0);
  check_timesteps(t, B, schedule, "coefficient_at");
  // coefficients: (T,) float64 -> (B,) -> (B, 1, ..., 1) in x's dtype
  Shape shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = B;
  return index_select(coefficients, 0, t).to(x.dtype()).reshape(shape);
}

Tensor q_step(const Tensor& x_prev, const Tensor& t, const Tensor& noise, const NoiseSchedule& schedule) {
  check_batch_pair(x_prev, "x_prev", noise, "noise", "q_step");
  check_timesteps(t, x_prev.size(0), schedule, "q_step");
  // x_prev, noise: (B, ...); a, s: (B, 1, ..., 1). The square roots are taken in float64 over the (T,) tables.
  const Tensor a = coefficient_at(sqrt(schedule.alphas), t, x_prev, schedule);
  const Tensor s = coefficient_at(sqrt(schedule.betas), t, x_prev, schedule);
  return x_prev * a + noise * s;
}

Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise, const NoiseSchedule& schedule) {
  check_batch_pair(x0, "x0", noise, "noise", "q_sample");
  check_timesteps(t, x0.size(0), schedule, "q_sample");
  // x0, noise: (B, ...); a, s: (B, 1, ..., 1)
  const Tensor a = coefficient_at(schedule.sqrt_alpha_bar, t, x0, schedule);
  const Tensor s = coefficient_at(schedule.sqrt_one_minus_alpha_bar, t, x0, schedule);
  return x0 * a + noise * s;
}

Tensor q_posterior_mean(const Tensor& x0, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule) {
  check_batch_pair(x0, "x0", x_t, "x_t", "q_posterior_mean");
  check_timesteps(t, x0.size(0), schedule, "q_posterior_mean");
  const Tensor c1 = coefficient_at(schedule.posterior_mean_coef1, t, x0, schedule);
  const Tensor c2 = coefficient_at(schedule.posterior_mean_coef2, t, x0, schedule);
  return x0 * c1 + x_t * c2;
}

}  // namespace tinydiff
