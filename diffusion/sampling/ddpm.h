/// \file
/// \brief DDPM ancestral sampling (Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020).
///
/// Starting from \f$x_T \sim \mathcal{N}(0, I)\f$, each of the T steps (t = T-1, ..., 0 in 0-based indices)
/// samples the learned reverse process \f$p_\theta(x_{t-1} \mid x_t) = \mathcal{N}(\mu_\theta(x_t, t), \sigma_t^2 I)\f$
/// (Algorithm 2). The mean is the posterior mean of \f$q(x_{t-1} \mid x_t, x_0)\f$ at the predicted
/// \f$\hat x_0\f$ (DDPM eqs. 7 and 15):
/// \f[ \mu_\theta(x_t, t) = \tilde\mu_t(x_t, \hat x_0) = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}\hat x_0
///     + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t, \qquad
///     x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z,\ z \sim \mathcal{N}(0, I), \f]
/// which for \f$\epsilon\f$-prediction equals Algorithm 2's
/// \f$\frac{1}{\sqrt{\alpha_t}}\left(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\epsilon\right)\f$. The variance
/// \f$\sigma_t^2\f$ is \f$\tilde\beta_t\f$ (`DdpmVariance::BetaTilde`) or \f$\beta_t\f$ (`DdpmVariance::Beta`). The
/// last step (index 0) adds no noise: its output is \f$\hat x_0\f$ itself (\f$\tilde\mu_0 = \hat x_0\f$).
///
/// Usage:
/// \code
///   DdpmOptions opt;
///   opt.variance = DdpmVariance::BetaTilde;
///   Tensor x0 = ddpm_sample(model, schedule, gen.normal({B, 2}), gen, opt);   // T model calls
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// DDPM ancestral sampling over all T timesteps from `x_T` (B, ...), reading the model output as
/// `denoiser.prediction()`. Uses `options.variance`, `options.clip_x0` and `options.callback`. Noise is
/// drawn from `gen` in x_T's dtype. Returns \f$x_0\f$ (B, ...). With `options.range` (the editing contract,
/// sampler.h) it runs only the steps begin..end-1, i.e. from t = T-1-begin: `x_T` is then x at that timestep.
Tensor ddpm_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                   const DdpmOptions& options = {});

/// One reverse step \f$x_t \to x_{t-1}\f$ given the model output at (x_t, t): returns
/// \f$\tilde\mu_t(x_t, \hat x_0) + \sigma_t z\f$ (no noise at t = 0), and the used \f$\hat x_0\f$ in `x0_pred` if
/// non-null. The output is read as `prediction`.
Tensor ddpm_step(const Tensor& model_output, const Tensor& x_t, int64_t t, const NoiseSchedule& schedule,
                 Generator& gen, const DdpmOptions& options = {}, Prediction prediction = Prediction::Epsilon,
                 Tensor* x0_pred = nullptr);

}  // namespace tinydiff
