/// \file
/// \brief Noise schedules: the variances \f$\beta_t\f$ of the forward process and every quantity derived from them.
///
/// The forward (noising) process of a diffusion model (Ho, Jain & Abbeel, "Denoising Diffusion
/// Probabilistic Models", NeurIPS 2020, eqs. 2 and 4) adds Gaussian noise in T small steps:
/// \f[ q(x_t \mid x_{t-1}) = \mathcal{N}\!\left(\sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\right), \qquad
///     q(x_t \mid x_0) = \mathcal{N}\!\left(\sqrt{\bar\alpha_t}\, x_0,\ (1-\bar\alpha_t) I\right), \f]
/// with \f$\alpha_t = 1 - \beta_t\f$ and \f$\bar\alpha_t = \prod_{s \le t} \alpha_s\f$. A `NoiseSchedule`
/// holds the \f$\beta_t\f$ and every derived coefficient as `(T,)` float64 tensors, computed once in float64.
///
/// ## Index convention (read this: off-by-one timesteps are the classic diffusion bug)
/// Timesteps are **0-based**: `t` runs over `0, 1, ..., T-1`, and **index `t` is the paper's
/// timestep \f$t+1\f$**. So `betas[0]` is the paper's \f$\beta_1\f$ (the least noisy step),
/// `alpha_bar[T-1]` is \f$\bar\alpha_T\f$ (almost pure noise), and `alpha_bar_prev[t]` is
/// \f$\bar\alpha_{t-1}\f$ in the same shifted sense, with `alpha_bar_prev[0]` \f$= \bar\alpha_0 = 1\f$
/// (no noise at all). This is the convention of the DDPM and improved-DDPM reference code and of
/// diffusers; models receive the 0-based index as their timestep input.
///
/// ## Named schedules (`make_schedule`)
/// - `"linear"` (Ho et al. 2020, sec. 4): \f$\beta_t\f$ linear from `beta_start` = \f$10^{-4}\f$ to
///   `beta_end` = 0.02 over T = 1000 steps: \f$\beta_i = \beta_{start} + (\beta_{end}-\beta_{start})\,\frac{i}{T-1}\f$.
/// - `"cosine"` (Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021, eq. 17):
///   \f$\bar\alpha(u) = f(u)/f(0)\f$ with \f$f(u) = \cos^2\!\left(\frac{u + s}{1 + s}\cdot\frac{\pi}{2}\right)\f$,
///   \f$s = 0.008\f$, and \f$\beta_i = \min\!\left(1 - \frac{f((i+1)/T)}{f(i/T)},\ 0.999\right)\f$ (the clip keeps
///   the last steps from being singular).
/// - `"scaled_linear"` (Stable Diffusion, Rombach et al. 2022): linear in \f$\sqrt\beta\f$,
///   \f$\beta_i = \left(\sqrt{\beta_{start}} + (\sqrt{\beta_{end}}-\sqrt{\beta_{start}})\frac{i}{T-1}\right)^2\f$,
///   from 0.00085 to 0.012. It keeps more signal at t = T-1 (\f$\bar\alpha_{T-1} \approx 0.0047\f$).
/// - `"sigmoid"` (GeoDiff, Xu et al., ICLR 2022; diffusers' `"sigmoid"`):
///   \f$\beta_i = \beta_{start} + (\beta_{end}-\beta_{start})\,\sigma\!\left(-6 + 12\frac{i}{T-1}\right)\f$,
///   from \f$10^{-4}\f$ to 0.02 by default.
///
/// Usage:
/// \code
///   NoiseSchedule s = make_schedule("cosine");          // T = 1000
///   double abar = s.alpha_bar.at({499});                // \bar\alpha at paper timestep 500
///   NoiseSchedule l = make_schedule("linear", {.num_timesteps = 200});
/// \endcode
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

/// The noise schedule of a diffusion model: \f$\beta_t\f$ and its derived coefficients.
/// Every tensor is `(T,)` float64, indexed by the 0-based timestep `t` (index t = paper's t+1).
struct NoiseSchedule {
  /// The schedule's name ("linear", "cosine", ..., or "custom" for `from_betas`).
  std::string name;
  /// T, the number of diffusion steps.
  int64_t num_timesteps = 0;

  /// \f$\beta_t\f$, the variance added at step t.
  Tensor betas;
  /// \f$\alpha_t = 1 - \beta_t\f$.
  Tensor alphas;
  /// \f$\bar\alpha_t = \prod_{s \le t} \alpha_s\f$ (strictly decreasing).
  Tensor alpha_bar;
  /// \f$\bar\alpha_{t-1}\f$; 1 at index 0 (\f$\bar\alpha_0 = 1\f$, clean data).
  Tensor alpha_bar_prev;
  /// \f$\sqrt{\bar\alpha_t}\f$, the signal scale of \f$q(x_t \mid x_0)\f$.
  Tensor sqrt_alpha_bar;
  /// \f$\sqrt{1 - \bar\alpha_t}\f$, the noise scale of \f$q(x_t \mid x_0)\f$.
  Tensor sqrt_one_minus_alpha_bar;
  /// \f$\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t\f$, the variance of the posterior
  /// \f$q(x_{t-1} \mid x_t, x_0)\f$ (DDPM eq. 7). Exactly 0 at index 0.
  Tensor posterior_variance;
  /// \f$\ln\tilde\beta_t\f$ with index 0 (where \f$\tilde\beta = 0\f$) given index 1's value, as in the DDPM code.
  Tensor posterior_log_variance_clipped;
  /// \f$\frac{\beta_t\sqrt{\bar\alpha_{t-1}}}{1 - \bar\alpha_t}\f$, the weight of \f$x_0\f$ in the posterior mean
  /// \f$\tilde\mu_t(x_t, x_0)\f$ (DDPM eq. 7).
  Tensor posterior_mean_coef1;
  /// \f$\frac{(1 - \bar\alpha_{t-1})\sqrt{\alpha_t}}{1 - \bar\alpha_t}\f$, the weight of \f$x_t\f$ in the posterior
  /// mean.
  Tensor posterior_mean_coef2;
  /// Signal-to-noise ratio \f$\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)\f$ (Kingma et al. 2021).
  Tensor snr;

  /// Builds every derived tensor, in float64, from \f$\beta_0, \dots, \beta_{T-1}\f$. Throws Error unless
  /// T >= 2 and every \f$\beta\f$ lies in the open interval (0, 1) (so \f$0 < \bar\alpha_t < 1\f$ everywhere).
  static NoiseSchedule from_betas(const std::vector<double>& betas, const std::string& name = "custom");

  /// \f$\beta_t\f$ etc. as a double, for set-up code: e.g. `s.value(s.alpha_bar, t)`. Checks t in [0, T-1].
  double value(const Tensor& coefficients, int64_t t) const;
};

/// Options of `make_schedule`. Unset `beta_start` / `beta_end` take the named schedule's defaults.
struct ScheduleOptions {
  /// T, the number of diffusion steps.
  int64_t num_timesteps = 1000;
  /// First \f$\beta\f$ of "linear" (1e-4), "scaled_linear" (0.00085) and "sigmoid" (1e-4). Not used by "cosine".
  std::optional<double> beta_start = std::nullopt;
  /// Last \f$\beta\f$ of "linear" (0.02), "scaled_linear" (0.012) and "sigmoid" (0.02). Not used by "cosine".
  std::optional<double> beta_end = std::nullopt;
  /// The offset s of the cosine schedule (0.008: keeps \f$\beta\f$ from being tiny near t = 0).
  double cosine_s = 0.008;
  /// The cosine schedule clips every \f$\beta\f$ to at most this.
  double max_beta = 0.999;
};

/// The names `make_schedule` accepts: "linear", "cosine", "scaled_linear", "sigmoid".
std::vector<std::string> schedule_names();

/// The \f$\beta\f$ of a named schedule (see the file overview for each formula), as float64 values.
/// Throws Error listing the valid names for an unknown name, and for T < 2 or betas outside (0, 1).
std::vector<double> schedule_betas(const std::string& name, const ScheduleOptions& options = {});

/// A named noise schedule: `NoiseSchedule::from_betas(schedule_betas(name, options), name)`.
NoiseSchedule make_schedule(const std::string& name, const ScheduleOptions& options = {});

}  // namespace tinydiff
