/// \file
/// \brief `StepProgress`: the per-step progress bar of `tinydiff sample` and `tinydiff eval`, on stderr.
///
/// Sampling calls the sampler's step callback (sampler.h) once per step of every chunk of images; the
/// bar counts those steps against the total the command expects and redraws one line in place, at most
/// four times a second, in the style of `train`'s display (diffusion/training/train_report.h):
///
///     sampling step 37/100 [########........] 2.9 step/s  elapsed 0:12  ETA 0:21
///
/// It draws only when stderr is a terminal (`isatty`), so logs and pipes see nothing of it, and it
/// goes to stderr so that stdout stays the command's report. `print_above` prints lines above it.
///
/// Usage:
/// \code
///   StepProgress bar("sampling", chunks * sampler_steps(options, T));
///   set_step_callback(options, bar.callback());
///   ...  // sample
///   bar.finish();
/// \endcode
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "diffusion/sampling/sampler.h"

namespace tinydiff::cli {

/// A progress bar over sampler steps (see the file comment).
class StepProgress {
 public:
  /// `label` starts the line; `total` steps are expected (0: unknown). Enabled only when stderr is a
  /// terminal, unless `force` says otherwise (tests).
  StepProgress(std::string label, int64_t total, bool force = false);
  StepProgress(const StepProgress&) = delete;
  StepProgress& operator=(const StepProgress&) = delete;
  /// Counts one step and redraws the bar if 0.25 s have passed since the last draw.
  void step();
  /// A StepCallback that calls step(); the StepProgress must outlive its use.
  StepCallback callback();
  /// Runs `print` (which writes whole lines to stdout or stderr) with the bar cleared, then redraws the bar.
  void print_above(const std::function<void()>& print);
  /// Draws the final state and ends the line (nothing when disabled or nothing was drawn).
  void finish();
  /// True when the bar is drawn.
  bool enabled() const { return enabled_; }

 private:
  void draw();
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, visible_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tinydiff::cli
