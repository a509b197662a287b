/// \file
/// \brief Sampling: the denoiser interface, sampler options, and `sample()`, which picks DDPM (ddpm.h) or DDIM
/// (ddim.h) by name.
///
/// A sampler turns pure noise \f$x_T \sim \mathcal{N}(0, I)\f$ into a sample by repeatedly asking a
/// *denoiser* — any function \f$(x_t, t) \mapsto\f$ model output, where `t` is an int64 `(B)` tensor of
/// 0-based timesteps (index t = paper's t+1, see schedule.h) — and stepping towards \f$t = 0\f$.
/// The model output is interpreted according to `SamplerOptions::prediction` (prediction.h).
/// Sampling is deterministic given the Generator's seed (DDIM with \f$\eta = 0\f$ uses no randomness at all).
///
/// Usage:
/// \code
///   Denoiser model = [&](const Tensor& x, const Tensor& t) { return net(x, t); };  // eps-prediction
///   SamplerOptions opt;
///   opt.sampler = "ddim";
///   opt.steps = 50;
///   Generator gen(0);
///   Tensor x = sample(model, schedule, gen.normal({16, 2}), gen, opt);
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/process/prediction.h"
#include "diffusion/process/schedule.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// A denoising model as samplers see it: \f$(x_t, t) \mapsto\f$ model output shaped like \f$x_t\f$.
/// x_t: (B, ...); t: int64 (B), every entry the current 0-based timestep.
using Denoiser = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

/// Called once per sampling step, after the model has been evaluated and before the update:
/// (step index 0..steps-1, timestep t, the current \f$x_t\f$, the predicted \f$\hat x_0\f$ (after clipping)).
using StepCallback = std::function<void(int64_t step, int64_t t, const Tensor& x_t, const Tensor& x0_pred)>;

/// Options shared by the samplers.
struct SamplerOptions {
  /// "ddpm" (ancestral, T steps; ddpm.h) or "ddim" (`steps` steps; ddim.h). Used by `sample()`.
  std::string sampler = "ddim";
  /// DDIM: the number of steps, 1..T. DDPM ignores it and takes all T.
  int64_t steps = 50;
  /// DDIM: \f$\eta\f$ in [0, 1]: 0 is deterministic DDIM, 1 has DDPM's posterior variance.
  double eta = 0.0;
  /// DDIM: the timestep spacing, "leading", "trailing" or "linspace" (timestep_spacing.h).
  std::string spacing = "leading";
  /// DDPM: the reverse-step variance, "beta_tilde" (\f$\tilde\beta_t\f$, the posterior variance) or
  /// "beta" (\f$\beta_t\f$); Ho et al. 2020 sec. 3.2 found both to work equally well.
  std::string variance = "beta_tilde";
  /// How to read the model output.
  Prediction prediction = Prediction::Epsilon;
  /// Clip the predicted \f$\hat x_0\f$ to [-1, 1] at every step (for data scaled to [-1, 1], e.g. images).
  bool clip_x0 = false;
  /// Optional per-step callback (progress, intermediate images).
  StepCallback callback;
};

/// The names `sample()` accepts: "ddpm", "ddim".
std::vector<std::string> sampler_names();

/// Runs the sampler named in `options.sampler` from \f$x_T\f$ = `x_T` (B, ...), usually `gen.normal(shape)`.
/// Returns \f$x_0\f$, shaped like x_T. Throws Error for an unknown sampler name.
Tensor sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
              const SamplerOptions& options = {});

/// Calls the denoiser at timestep `t` on x (B, ...) and checks that the output is shaped like x
/// (Error naming `op` otherwise). Shared by the samplers.
Tensor call_denoiser(const Denoiser& denoiser, const Tensor& x, int64_t t, const char* op);

}  // namespace tinydiff
