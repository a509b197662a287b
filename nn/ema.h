/// \file
/// \brief `EMA`: an exponential moving average of a model's parameters, for sampling with smoother weights.
///
/// Diffusion models sample much better from an average of recent weights than from the last
/// ones (Ho et al., "Denoising Diffusion Probabilistic Models", 2020, use decay 0.9999; see
/// also Karras et al., "Analyzing and Improving the Training Dynamics of Diffusion Models",
/// 2024). After each optimizer step, `update()` moves every shadow weight towards its parameter:
///
/// \f[ \bar\theta \leftarrow \bar\theta + (1 - d_n)(\theta - \bar\theta), \qquad
///     d_n = \min\Bigl(d, \frac{1 + n}{10 + n}\Bigr), \f]
///
/// where \f$n\f$ counts the updates already made. The warm-up factor \f$(1+n)/(10+n)\f$
/// (0.1, 0.18, 0.25, ...) lets the average forget the random initialisation quickly instead of
/// waiting ~1/(1-d) steps; this is the schedule of TensorFlow's ExponentialMovingAverage with
/// num_updates and of diffusers' EMAModel. Set `warmup = false` to always use \f$d\f$.
///
/// The shadow weights start as copies of the parameters and have their dtypes. `swap()`
/// exchanges shadow and live values in place (no allocation); `EMASwapGuard` does it for a
/// scope, so evaluation or sampling uses the EMA weights and training resumes with its own.
///
/// Usage:
/// \code
///   EMA ema(model.named_parameters(), {.decay = 0.999});
///   for (...) { ...; opt.step(); ema.update(); }
///   {
///     EMASwapGuard use_ema(ema);        // model now holds the EMA weights
///     Tensor images = sample(model, ...);
///   }                                   // training weights restored
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "nn/safetensors.h"

namespace tinydiff {

/// Options of EMA.
struct EMAOptions {
  double decay = 0.9999;  ///< \f$d\f$, the decay after warm-up, in [0, 1]
  bool warmup = true;     ///< use \f$\min(d, (1+n)/(10+n))\f$
};

/// Exponential moving average of a fixed set of named parameters.
class EMA {
 public:
  /// Tracks `params` (shared with the model); the shadow weights start as copies of them.
  EMA(std::vector<std::pair<std::string, Variable>> params, EMAOptions options = {});
  EMA(const EMA&) = delete;
  EMA& operator=(const EMA&) = delete;

  /// One averaging step (see the file comment); call after each optimizer step. Throws when
  /// a parameter's shape or dtype has changed, or while swapped.
  void update();
  /// The decay the next update() will use, \f$d_n\f$.
  double current_decay() const;
  /// Number of update() calls so far, \f$n\f$.
  int64_t num_updates() const { return num_updates_; }
  /// Sets \f$n\f$ (when restoring from a checkpoint).
  void set_num_updates(int64_t n);
  /// The options.
  const EMAOptions& options() const { return options_; }

  /// Exchanges the shadow weights with the live parameter values, in place; calling it again
  /// swaps back. While swapped, update() and load_state_tensors() throw (they would mix up the
  /// two sets of weights); state_tensors() and copy_to() still give the EMA weights.
  /// Prefer EMASwapGuard, which cannot forget to swap back.
  void swap();
  /// True between an odd number of swap() calls (the model holds the EMA weights).
  bool swapped() const { return swapped_; }
  /// Copies the shadow weights into `params` of the same names (e.g. a separate sampling
  /// model); every tracked name must be present with the same shape.
  void copy_to(const std::vector<std::pair<std::string, Variable>>& params) const;

  /// The shadow weights as `prefix + name` (copies). The update count is not included; store
  /// num_updates() separately (the checkpoint keeps it in its metadata).
  NamedTensors state_tensors(const std::string& prefix = "") const;
  /// Every problem that load_state_tensors would meet (missing, unexpected or mis-shaped
  /// tensors among those whose names start with `prefix`); empty when fine.
  std::vector<std::string> state_problems(const NamedTensors& tensors, const std::string& prefix = "") const;
  /// Restores the shadow weights exported by state_tensors; checks first and throws one
  /// Error listing every problem, changing nothing.
  void load_state_tensors(const NamedTensors& tensors, const std::string& prefix = "");

 private:
  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<Tensor> shadow_;
  EMAOptions options_;
  int64_t num_updates_ = 0;
  bool swapped_ = false;
};

/// RAII: swaps the EMA weights into the model for a scope and swaps them back on exit
/// (also when an exception leaves the scope).
class EMASwapGuard {
 public:
  /// Swaps `ema`'s weights into its parameters.
  explicit EMASwapGuard(EMA& ema) : ema_(ema) { ema_.swap(); }
  /// Swaps them back.
  ~EMASwapGuard() { ema_.swap(); }
  EMASwapGuard(const EMASwapGuard&) = delete;
  EMASwapGuard& operator=(const EMASwapGuard&) = delete;

 private:
  EMA& ema_;
};

}  // namespace tinydiff
