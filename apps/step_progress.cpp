// The per-step progress bar of sample and eval. See step_progress.h.
#include "apps/step_progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "diffusion/training/train_report.h"

namespace tinydiff::cli {

StepProgress::StepProgress(std::string label, int64_t total, bool force)
    : label_(std::move(label)),
      total_(total),
      enabled_(force || ::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

void StepProgress::step() {
  ++done_;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(250) || done_ == total_) draw();
}

StepCallback StepProgress::callback() {
  return [this](int64_t, int64_t, const Tensor&, const Tensor&) { step(); };
}

void StepProgress::draw() {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = total_ > 0 && rate > 0 ? static_cast<double>(total_ - done_) / rate : -1.0;
  std::string line =
      total_ > 0 ? fmt::format("{} step {}/{}", label_, done_, total_) : fmt::format("{} step {}", label_, done_);
  if (total_ > 0) {
    const double frac = std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    const int width = 24, filled = static_cast<int>(frac * width);
    line += " [" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(width - filled), '.') + "]";
  }
  line += fmt::format("  {:.2f} step/s  elapsed {}  ETA {}", rate, format_duration(elapsed), format_duration(eta));
  std::fputs(("\r" + line + "\033[K").c_str(), stderr);
  std::fflush(stderr);
  visible_ = true;
}

void StepProgress::print_above(const std::function<void()>& print) {
  if (visible_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
  print();
  std::fflush(stdout);
  if (visible_) draw();
}

void StepProgress::finish() {
  if (!enabled_ || !visible_) return;
  draw();
  std::fputs("\n", stderr);
  std::fflush(stderr);
  visible_ = false;
}

}  // namespace tinydiff::cli
