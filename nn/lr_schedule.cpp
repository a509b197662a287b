// Warm-up + cosine / constant learning-rate schedules. See lr_schedule.h.
#include "nn/lr_schedule.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace tinydiff {

double scheduled_lr(const LrSchedule& s, int64_t step) {
  constexpr const char* op = "scheduled_lr";
  TD_CHECK(step >= 0, op, fmt::format("step must be >= 0, got {}", step));
  TD_CHECK(s.lr >= 0.0 && s.min_lr >= 0.0, op, fmt::format("rates must be >= 0, got lr {} min_lr {}", s.lr, s.min_lr));
  TD_CHECK(s.warmup_steps >= 0, op, fmt::format("warmup_steps must be >= 0, got {}", s.warmup_steps));
  if (step < s.warmup_steps) return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.decay == LrDecay::Constant) return s.lr;
  TD_CHECK(
      s.total_steps >= s.warmup_steps, op,
      fmt::format("total_steps ({}) must be >= warmup_steps ({}) for cosine decay", s.total_steps, s.warmup_steps));
  if (step >= s.total_steps) return s.min_lr;
  const double progress =
      static_cast<double>(step - s.warmup_steps) / static_cast<double>(s.total_steps - s.warmup_steps);
  return s.min_lr + (s.lr - s.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace tinydiff
