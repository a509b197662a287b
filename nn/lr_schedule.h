/// \file
/// \brief Learning-rate schedules: linear warm-up, then cosine decay or a constant, as a pure function of the step.
///
/// Step \f$s = 0, 1, \dots\f$ counts the optimizer steps already taken, so
/// `opt.set_lr(scheduled_lr(schedule, s))` sets the rate of step \f$s + 1\f$. With base rate
/// \f$\eta\f$, final rate \f$\eta_{min}\f$, \f$W\f$ warm-up steps and \f$T\f$ total steps:
///
/// \f[ \eta_s = \eta\,\frac{s + 1}{W} \quad (s < W), \f]
/// \f[ \eta_s = \eta_{min} + (\eta - \eta_{min})\,\tfrac12\bigl(1 + \cos(\pi\,\tfrac{s - W}{T - W})\bigr)
///     \quad (W \le s < T), \qquad \eta_s = \eta_{min} \quad (s \ge T) \f]
///
/// for cosine decay (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
/// Restarts", ICLR 2017, without restarts), and \f$\eta_s = \eta\f$ after the warm-up for the
/// constant schedule. The warm-up reaches the full rate at its last step (\f$s = W - 1\f$), so no
/// step is taken with a zero rate. Being a pure function of \f$s\f$, the schedule needs no
/// state in a checkpoint: resuming at step \f$s\f$ gives the same rates.
///
/// Usage:
/// \code
///   LrSchedule schedule{.lr = 2e-4, .warmup_steps = 500, .total_steps = 20000};
///   opt.set_lr(scheduled_lr(schedule, step));
/// \endcode
#pragma once

#include <cstdint>

namespace tinydiff {

/// What follows the warm-up.
enum class LrDecay {
  Cosine,    ///< half a cosine from lr down to min_lr at total_steps
  Constant,  ///< lr until the end
};

/// A warm-up + decay schedule (see the file comment for the formulas).
struct LrSchedule {
  double lr = 1e-3;                 ///< base (peak) learning rate \f$\eta\f$
  int64_t warmup_steps = 0;         ///< \f$W\f$; 0 starts at the full rate
  int64_t total_steps = 0;          ///< \f$T\f$, where cosine decay reaches min_lr (ignored by Constant)
  double min_lr = 0.0;              ///< \f$\eta_{min}\f$, the final rate of cosine decay
  LrDecay decay = LrDecay::Cosine;  ///< what follows the warm-up
};

/// The learning rate for the optimizer step after `step` steps. Throws Error on a negative
/// step or rate, or (for cosine) total_steps < warmup_steps.
double scheduled_lr(const LrSchedule& schedule, int64_t step);

}  // namespace tinydiff
