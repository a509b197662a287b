/// \file
/// \brief The forward (noising) process \f$q\f$: one step, the closed form, and the posterior \f$q(x_{t-1} \mid x_t,
/// x_0)\f$.
///
/// Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020:
/// - one step (eq. 2): \f$q(x_t \mid x_{t-1}) = \mathcal{N}(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I)\f$, so
///   \f$x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\epsilon\f$;
/// - the closed form (eq. 4): \f$q(x_t \mid x_0) = \mathcal{N}(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I)\f$, so
///   \f$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon\f$ — one draw instead of t steps;
/// - the posterior (eqs. 6-7): \f$q(x_{t-1} \mid x_t, x_0) = \mathcal{N}(\tilde\mu_t, \tilde\beta_t I)\f$ with
///   \f$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t} x_0 +
///   \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t\f$.
///
/// Every function takes a batch: `x` is `(B, ...)` (any trailing shape, float32 or float64), `t` is
/// an int64 `(B)` tensor of 0-based timesteps (index t = paper's t+1, see schedule.h), one per example,
/// and the noise \f$\epsilon\f$ is passed in (same shape and dtype as x) so that callers control the
/// random stream. The float64 schedule coefficients are converted to x's dtype.
///
/// Usage:
/// \code
///   NoiseSchedule s = make_schedule("linear");
///   Generator gen(0);
///   Tensor t = gen.randint(0, s.num_timesteps, {B});
///   Tensor noise = gen.normal(x0.shape());
///   Tensor xt = q_sample(x0, t, noise, s);            // x0: (B, C, H, W) -> (B, C, H, W)
/// \endcode
#pragma once

#include "diffusion/process/schedule.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// Checks that `t` is an int64 `(batch)` tensor with every value in [0, T-1]; throws Error naming `op`.
void check_timesteps(const Tensor& t, int64_t batch, const NoiseSchedule& schedule, const char* op);

/// The per-example coefficient `coefficients[t[b]]`, shaped `(B, 1, ..., 1)` with `x`'s rank and
/// converted to `x`'s dtype so that it broadcasts against `x`. `coefficients` is a `(T,)` schedule tensor,
/// `t` an int64 `(B)` tensor with B = x.size(0). (The DDPM code's `_extract_into_tensor`.)
Tensor coefficient_at(const Tensor& coefficients, const Tensor& t, const Tensor& x, const NoiseSchedule& schedule);

/// One forward step, \f$x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\epsilon\f$ (DDPM eq. 2).
/// \param x_prev \f$x_{t-1}\f$ (B, ...); at t = 0 that is the clean data \f$x_0\f$ in paper terms.
/// \param t int64 (B), the 0-based timestep being produced.
/// \param noise \f$\epsilon \sim \mathcal{N}(0, I)\f$, shaped like x_prev.
/// \param schedule supplies \f$\beta_t\f$.
Tensor q_step(const Tensor& x_prev, const Tensor& t, const Tensor& noise, const NoiseSchedule& schedule);

/// The closed form \f$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon\f$ (DDPM eq. 4).
/// \param x0 clean data (B, ...); \param t int64 (B); \param noise \f$\epsilon\f$ shaped like x0;
/// \param schedule supplies \f$\bar\alpha_t\f$.
Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise, const NoiseSchedule& schedule);

/// The posterior mean \f$\tilde\mu_t(x_t, x_0) = c_1(t)\,x_0 + c_2(t)\,x_t\f$ (DDPM eq. 7) with
/// `posterior_mean_coef1` / `coef2`. At t = 0 it is exactly \f$x_0\f$. The variance is `posterior_variance[t]`.
Tensor q_posterior_mean(const Tensor& x0, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule);

}  // namespace tinydiff
