/// \file
/// \brief Sampling: the `Denoiser` interface, one options type per sampler (`DdpmOptions`, `DdimOptions`),
/// and `sample()`, which runs the sampler its options name.
///
/// A sampler turns pure noise \f$x_T \sim \mathcal{N}(0, I)\f$ into a sample by repeatedly asking a
/// *denoiser* — a function \f$(x_t, t) \mapsto\f$ model output, where `t` is an int64 `(B)` tensor of
/// 0-based timesteps (index t = paper's t+1, see schedule.h), together with what that output is
/// (\f$\epsilon\f$, \f$x_0\f$ or \f$v\f$; prediction.h) — and stepping towards \f$t = 0\f$. The samplers read
/// every output through `denoise()` (prediction.h), so a model of any prediction type samples correctly
/// without further settings. Sampling is deterministic given the Generator's seed (DDIM with \f$\eta = 0\f$
/// uses no randomness at all).
///
/// Each sampler has its own options with typed members and no member it ignores: `DdpmOptions`
/// (ddpm.h: the reverse-step variance), `DdimOptions` (ddim.h: steps, \f$\eta\f$, timestep spacing), and the
/// solvers of the probability-flow ODE in the \f$\sigma\f$ view (karras_sigmas.h): `EulerOptions` and
/// `EulerAncestralOptions` (euler.h), `HeunOptions` (heun.h), `DpmSolverOptions` (dpm_solver.h), each with its
/// steps and its \f$\sigma\f$ spacing. `SamplerOptions` holds one of them; names ("ddim", "trailing", "karras",
/// ...) are parsed only at a program's edge (`parse_sampler_kind`, `parse_timestep_spacing`,
/// `parse_sigma_spacing`).
///
/// Model evaluations (NFE) for N = `steps`: DDIM, Euler, Euler ancestral and DPM-Solver++(2M) N; Heun 2N - 1
/// (no correction on the last step, to \f$\sigma = 0\f$); DDPM always T.
///
/// Usage:
/// \code
///   Denoiser model = [&](const Tensor& x, const Tensor& t) { return net(x, t); };    // eps-prediction
///   Denoiser v_model(v_net, Prediction::V);                                          // v-prediction
///   DdimOptions opt;
///   opt.steps = 50;                                                                  // trailing spacing, eta 0
///   Generator gen(0);
///   Tensor x = sample(model, schedule, gen.normal({16, 2}), gen, opt);
///   DpmSolverOptions dpm;                                                            // karras sigmas
///   dpm.steps = 15;                                                                  // 15 model calls
///   Tensor y = sample(model, schedule, gen.normal({16, 2}), gen, dpm);
///   SamplerOptions named = HeunOptions{.steps = 10};                                 // 19 model calls
///   if (parse_sampler_kind("dpm++2m") == SamplerKind::DpmSolver2M) named = dpm;      // names at the edge only
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "diffusion/process/prediction.h"
#include "diffusion/process/schedule.h"
#include "diffusion/sampling/timestep_spacing.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// A denoising model as samplers see it: \f$(x_t, t) \mapsto\f$ model output shaped like \f$x_t\f$, and
/// the prediction type that says how to read that output (prediction.h).
/// x_t: (B, ...); t: int64 (B), every entry the current 0-based timestep.
class Denoiser {
 public:
  /// The model function: (x_t (B, ...), t int64 (B)) -> output (B, ...).
  using Function = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

  /// An empty denoiser (calling a sampler with it throws Error).
  Denoiser() = default;
  /// Wraps a callable `fn` (a lambda, a `Function`) whose output is read as `prediction`. Implicit, so
  /// an \f$\epsilon\f$-prediction lambda can be passed wherever a Denoiser is expected.
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Denoiser> &&
                                                    std::is_constructible_v<Function, F>>>
  Denoiser(F fn, Prediction prediction = Prediction::Epsilon)  // NOLINT(google-explicit-constructor)
      : fn_(std::move(fn)), prediction_(prediction) {}

  /// The model output at (x_t, t): (B, ...), in the denoiser's prediction type.
  Tensor operator()(const Tensor& x_t, const Tensor& t) const { return fn_(x_t, t); }
  /// What the output is: \f$\epsilon\f$, \f$x_0\f$ or \f$v\f$.
  Prediction prediction() const { return prediction_; }
  /// True when a function is set.
  explicit operator bool() const { return static_cast<bool>(fn_); }

 private:
  Function fn_;
  Prediction prediction_ = Prediction::Epsilon;
};

/// Called once per sampling step, after the model has been evaluated and before the update:
/// (step index 0..steps-1, timestep t, the current \f$x_t\f$, the predicted \f$\hat x_0\f$ (after clipping)).
using StepCallback = std::function<void(int64_t step, int64_t t, const Tensor& x_t, const Tensor& x0_pred)>;

/// DDPM's reverse-step variance \f$\sigma_t^2\f$; Ho et al. 2020 sec. 3.2 found both to work equally well.
enum class DdpmVariance {
  BetaTilde,  ///< \f$\tilde\beta_t\f$, the posterior variance of \f$q(x_{t-1} \mid x_t, x_0)\f$
  Beta,       ///< \f$\beta_t\f$
};

/// Options of DDPM ancestral sampling (ddpm.h), which always takes all T steps.
struct DdpmOptions {
  /// The reverse-step variance.
  DdpmVariance variance = DdpmVariance::BetaTilde;
  /// Clip the predicted \f$\hat x_0\f$ to [-1, 1] at every step (for data scaled to [-1, 1], e.g. images).
  bool clip_x0 = false;
  /// Optional per-step callback (progress, intermediate images).
  StepCallback callback = {};
};

/// Options of DDIM sampling (ddim.h).
struct DdimOptions {
  /// The number of steps, 1..T.
  int64_t steps = 50;
  /// \f$\eta\f$ in [0, 1]: 0 is deterministic DDIM, 1 has DDPM's posterior variance.
  double eta = 0.0;
  /// Which timesteps the steps visit (timestep_spacing.h); trailing starts at t = T-1.
  TimestepSpacing spacing = TimestepSpacing::Trailing;
  /// Clip the predicted \f$\hat x_0\f$ to [-1, 1] at every step (for data scaled to [-1, 1], e.g. images).
  bool clip_x0 = false;
  /// Optional per-step callback (progress, intermediate images).
  StepCallback callback = {};
};

/// Which noise levels \f$\sigma_0 > \dots > \sigma_{N-1} > \sigma_N = 0\f$ the samplers of the
/// probability-flow ODE visit (karras_sigmas.h); every \f$\sigma_i\f$ but the last is one of the model's
/// discrete \f$\sigma_t\f$.
enum class SigmaSpacing {
  Karras,   ///< Karras et al. 2022 (EDM) eq. 5 with \f$\rho = 7\f$, snapped to the model's timesteps (default)
  Uniform,  ///< uniform in the timestep: the trailing timesteps of DDIM (timestep_spacing.h)
};

/// Options of Euler's method on the probability-flow ODE (euler.h): one model evaluation per step.
struct EulerOptions {
  /// The number of steps N, 1..T (N model evaluations).
  int64_t steps = 20;
  /// The noise levels the steps visit.
  SigmaSpacing sigmas = SigmaSpacing::Karras;
  /// Clip the denoised estimate \f$\hat x_0\f$ to [-1, 1] at every step (for data scaled to [-1, 1], e.g. images).
  bool clip_x0 = false;
  /// Optional per-step callback (progress, intermediate images); \f$x_t\f$ is in the VP scaling of DDIM.
  StepCallback callback = {};
};

/// Options of Euler ancestral sampling (euler.h: k-diffusion's `sample_euler_ancestral`): one model
/// evaluation per step.
struct EulerAncestralOptions {
  /// The number of steps N, 1..T (N model evaluations).
  int64_t steps = 20;
  /// The noise levels the steps visit.
  SigmaSpacing sigmas = SigmaSpacing::Karras;
  /// \f$\eta\f$ in [0, 1], the share of fresh noise: 1 is ancestral sampling, 0 is plain Euler.
  double eta = 1.0;
  /// Clip the denoised estimate \f$\hat x_0\f$ to [-1, 1] at every step.
  bool clip_x0 = false;
  /// Optional per-step callback; \f$x_t\f$ is in the VP scaling of DDIM.
  StepCallback callback = {};
};

/// Options of Heun's 2nd-order method on the probability-flow ODE (heun.h: EDM Algorithm 1 without churn):
/// two model evaluations per step except the last, so 2N - 1 in all.
struct HeunOptions {
  /// The number of steps N, 1..T (2N - 1 model evaluations).
  int64_t steps = 20;
  /// The noise levels the steps visit.
  SigmaSpacing sigmas = SigmaSpacing::Karras;
  /// Clip the denoised estimate \f$\hat x_0\f$ to [-1, 1] at every model evaluation.
  bool clip_x0 = false;
  /// Optional per-step callback (once per step, at its first evaluation); \f$x_t\f$ is in the VP scaling of DDIM.
  StepCallback callback = {};
};

/// Options of DPM-Solver++(2M) (dpm_solver.h: Lu et al. 2022, Algorithm 2): one model evaluation per step.
struct DpmSolverOptions {
  /// The number of steps N, 1..T (N model evaluations).
  int64_t steps = 20;
  /// The noise levels the steps visit.
  SigmaSpacing sigmas = SigmaSpacing::Karras;
  /// Clip the denoised estimate \f$\hat x_0\f$ to [-1, 1] at every step.
  bool clip_x0 = false;
  /// Optional per-step callback; \f$x_t\f$ is in the VP scaling of DDIM.
  StepCallback callback = {};
};

/// The options of one sampler; which alternative is held picks the sampler `sample()` runs.
using SamplerOptions =
    std::variant<DdimOptions, DdpmOptions, EulerOptions, EulerAncestralOptions, HeunOptions, DpmSolverOptions>;

/// The samplers, for choosing one by name at a program's edge.
enum class SamplerKind {
  Ddim,            ///< DDIM (ddim.h), "ddim"
  Ddpm,            ///< DDPM (ddpm.h), "ddpm"
  Euler,           ///< Euler on the probability-flow ODE (euler.h), "euler"
  EulerAncestral,  ///< Euler ancestral (euler.h), "euler_a"
  Heun,            ///< Heun's 2nd-order method (heun.h), "heun"
  DpmSolver2M,     ///< DPM-Solver++(2M) (dpm_solver.h), "dpmpp_2m" (also "dpm++2m")
};

/// The names `parse_sampler_kind` accepts: "ddim", "ddpm", "euler", "euler_a", "heun", "dpmpp_2m" (and the
/// alias "dpm++2m", stable-diffusion.cpp's spelling, which is not listed).
std::vector<std::string> sampler_names();

/// The sampler of a name in `sampler_names()` (or "dpm++2m"). Throws Error listing the names for another name.
SamplerKind parse_sampler_kind(const std::string& name);

/// The name of a sampler as `sampler_names()` spells it ("dpmpp_2m" for `SamplerKind::DpmSolver2M`).
std::string sampler_name(SamplerKind kind);

/// Which sampler the options `options` run.
SamplerKind sampler_kind(const SamplerOptions& options);

/// The number of model evaluations of `options` on a schedule of T = `num_timesteps` steps: T for DDPM,
/// `steps` for DDIM, Euler, Euler ancestral and DPM-Solver++(2M), `2 steps - 1` for Heun.
int64_t sampler_evaluations(const SamplerOptions& options, int64_t num_timesteps);

/// The number of steps of `options` on a schedule of T = `num_timesteps` steps, i.e. how often its callback is
/// called: T for DDPM, `steps` for the others.
int64_t sampler_steps(const SamplerOptions& options, int64_t num_timesteps);

/// Sets the per-step callback of whichever sampler `options` holds (every options type has one).
void set_step_callback(SamplerOptions& options, StepCallback callback);

/// Runs the sampler whose options `options` holds from \f$x_T\f$ = `x_T` (B, ...), usually
/// `gen.normal(shape)`, reading the denoiser's output as its prediction type. Returns \f$x_0\f$, shaped like x_T.
Tensor sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
              const SamplerOptions& options = DdimOptions{});

/// Calls the denoiser at timestep `t` on x (B, ...) and checks that the output is shaped like x
/// (Error naming `op` otherwise). Shared by the samplers.
Tensor call_denoiser(const Denoiser& denoiser, const Tensor& x, int64_t t, const char* op);

}  // namespace tinydiff
