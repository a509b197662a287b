/// \file
/// \brief A small noise-prediction network for 2-D points and its training loop, shared by
/// tutorial 4 (training) and tutorial 5 (sampling).
///
/// \f$\epsilon_\theta(x_t, t)\f$ is an MLP: the point \f$x_t \in \mathbb{R}^2\f$ concatenated with
/// a sinusoidal embedding of \f$t\f$ (nn/timestep_embedding.h), three hidden layers with SiLU,
/// and a linear output of two numbers, the predicted noise. It is trained on two moons
/// (diffusion/data/toy_data.h) with DDPM's simple loss
/// \f[ L(\theta) = \mathbb{E}_{x_0, t, \epsilon}\,\lVert \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 +
///     \sqrt{1-\bar\alpha_t}\,\epsilon,\ t) \rVert^2 \f]
/// (Ho, Jain & Abbeel 2020, Algorithm 1) and AdamW.
///
/// Usage:
/// \code
///   NoiseSchedule schedule = make_schedule("cosine");
///   Generator gen(1234);
///   ToyDenoiser model({}, gen);
///   std::vector<double> losses = train_toy_denoiser(model, schedule, gen, {.steps = 6000});
///   Denoiser eps = model.denoiser();     // for ddpm_sample / ddim_sample
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "diffusion/process/schedule.h"
#include "diffusion/sampling/sampler.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace tinydiff::tutorial {

/// Sizes of ToyDenoiser.
struct ToyDenoiserOptions {
  int64_t hidden = 64;          ///< width of the three hidden layers
  int64_t time_embedding = 32;  ///< width of the sinusoidal embedding of t
};

/// \f$\epsilon_\theta(x_t, t)\f$ for 2-D points: [x_t, emb(t)] -> 3 x (Linear, SiLU) -> Linear(2).
class ToyDenoiser : public Module {
 public:
  /// Builds the MLP, initialising the layers from `gen`.
  ToyDenoiser(const ToyDenoiserOptions& options, Generator& gen);
  /// x: (B, 2) float32, t: (B) int64 0-based timesteps -> predicted noise (B, 2).
  Variable forward(const Tensor& x, const Tensor& t) const;
  /// The network as a sampler's Denoiser (no graph is recorded).
  Denoiser denoiser() const;

  Linear fc1;  ///< (2 + time_embedding) -> hidden
  Linear fc2;  ///< hidden -> hidden
  Linear fc3;  ///< hidden -> hidden
  Linear out;  ///< hidden -> 2

 private:
  ToyDenoiserOptions options_;
};

/// Settings of train_toy_denoiser.
struct ToyTrainOptions {
  int64_t steps = 6000;  ///< optimizer steps
  int64_t batch = 256;   ///< fresh two-moons points per step
  double lr = 3e-3;      ///< AdamW learning rate (no weight decay)
};

/// Trains `model` on two moons with the noise-prediction MSE; returns the loss of every step.
/// Data, timesteps and noise are drawn from `gen`. Trains inside a NoGradGuard too (it opens an EnableGradGuard).
std::vector<double> train_toy_denoiser(ToyDenoiser& model, const NoiseSchedule& schedule, Generator& gen,
                                       const ToyTrainOptions& options);

/// Mean distance from each row of `from` to its nearest row of `to` (both (N, 2)): with `to` a
/// large fresh sample of the data, small values mean the points lie on the data ("precision").
double mean_nearest_distance(const Tensor& from, const Tensor& to);

}  // namespace tinydiff::tutorial
