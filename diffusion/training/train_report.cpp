// The JSONL training log and the progress display. See train_report.h.
#include "diffusion/training/train_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nn/atomic_file.h"
#include "tensor/error.h"

namespace tinydiff {
namespace {

// The step of a log line written by format_log_entry ({"step":N,...}); -1 when unreadable.
int64_t line_step(const std::string& line) {
  const std::string key = "{\"step\":";
  if (line.compare(0, key.size(), key) != 0) return -1;
  int64_t step = -1;
  const char* begin = line.data() + key.size();
  const auto [ptr, ec] = std::from_chars(begin, line.data() + line.size(), step);
  return ec == std::errc() && ptr != begin ? step : -1;
}

}  // namespace

std::string format_log_entry(const LogEntry& e) {
  // One compact JSON object, keys in this order; JSON has no NaN or infinity, so a non-finite loss, learning
  // rate or gradient norm is written as null. The rate keeps 4 significant digits, the time milliseconds.
  const auto number = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); };
  nlohmann::ordered_json j;
  j["step"] = e.step;
  j["loss"] = number(e.loss);
  j["lr"] = number(e.lr);
  j["grad_norm"] = number(e.grad_norm);
  j["steps_per_s"] = std::stod(fmt::format("{:.4g}", std::isfinite(e.steps_per_s) ? e.steps_per_s : 0.0));
  j["elapsed"] = std::round(e.elapsed * 1000.0) / 1000.0;
  if (e.skipped) j["skipped"] = true;
  return j.dump();
}

TrainLog::TrainLog(std::string path, int64_t keep_up_to_step) : path_(std::move(path)) {
  if (keep_up_to_step >= 0 && std::filesystem::exists(path_)) {
    std::ifstream in(path_);
    TD_CHECK(in.good(), "TrainLog", fmt::format("cannot read '{}'", path_));
    std::string line, kept;
    while (std::getline(in, line)) {
      const int64_t step = line_step(line);
      if (step >= 0 && step <= keep_up_to_step) kept += line + "\n";
    }
    write_file_atomic(path_, kept);
  } else {
    write_file_atomic(path_, "");
  }
  file_ = std::fopen(path_.c_str(), "a");
  TD_CHECK(file_ != nullptr, "TrainLog", fmt::format("cannot open '{}' for writing: {}", path_, std::strerror(errno)));
}

TrainLog::~TrainLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void TrainLog::append(const LogEntry& entry) {
  const std::string line = format_log_entry(entry) + "\n";
  const bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
  TD_CHECK(ok, "TrainLog", fmt::format("cannot write to '{}': {}", path_, std::strerror(errno)));
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t h = total / 3600, m = (total / 60) % 60, s = total % 60;
  return h > 0 ? fmt::format("{}:{:02}:{:02}", h, m, s) : fmt::format("{}:{:02}", m, s);
}

TrainProgress::TrainProgress(bool enabled, bool bar, int64_t total_steps, double budget_seconds, int64_t start_step)
    : enabled_(enabled), bar_(bar), total_steps_(total_steps), budget_seconds_(budget_seconds), step_(start_step) {}

double TrainProgress::smoothed_loss() const { return loss_weight_ > 0 ? loss_avg_ / loss_weight_ : NAN; }

void TrainProgress::update(int64_t step, double loss, double steps_per_s, double elapsed, double run_seconds) {
  step_ = step;
  if (std::isfinite(loss)) {
    loss_avg_ = 0.98 * loss_avg_ + 0.02 * loss;  // bias-corrected by loss_weight_
    loss_weight_ = 0.98 * loss_weight_ + 0.02;
  }
  steps_per_s_ = steps_per_s;
  elapsed_ = elapsed;
  run_seconds_ = run_seconds;
  const double interval = bar_ ? 0.25 : 15.0;
  if (run_seconds - last_draw_ >= interval) draw(false);
}

void TrainProgress::draw(bool final_line) {
  if (!enabled_) return;
  last_draw_ = run_seconds_;
  // ETA: the sooner of the step target and the time budget.
  double eta = NAN;
  if (total_steps_ > 0 && steps_per_s_ > 0) eta = static_cast<double>(total_steps_ - step_) / steps_per_s_;
  if (budget_seconds_ > 0) {
    const double left = std::max(0.0, budget_seconds_ - run_seconds_);
    eta = std::isfinite(eta) ? std::min(eta, left) : left;
  }
  std::string steps = total_steps_ > 0 ? fmt::format("step {}/{}", step_, total_steps_) : fmt::format("step {}", step_);
  std::string bar;
  if (bar_) {
    double frac = 0.0;
    if (total_steps_ > 0) frac = static_cast<double>(step_) / static_cast<double>(total_steps_);
    if (budget_seconds_ > 0) frac = std::max(frac, run_seconds_ / budget_seconds_);
    const int width = 24, filled = static_cast<int>(std::clamp(frac, 0.0, 1.0) * width);
    bar = " [" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.') +
          "]";
  }
  const std::string line =
      fmt::format("{}{}  loss {:.4f}  {:.2f} step/s  elapsed {}  ETA {}", steps, bar, smoothed_loss(), steps_per_s_,
                  format_duration(elapsed_), final_line ? "0:00" : format_duration(eta));
  if (bar_) {
    std::fputs(("\r" + line + "\033[K").c_str(), stdout);
    if (final_line) std::fputs("\n", stdout);
    bar_visible_ = !final_line;
  } else {
    std::fputs((line + "\n").c_str(), stdout);
  }
  std::fflush(stdout);
}

void TrainProgress::message(const std::string& line) {
  if (!enabled_) return;
  if (bar_ && bar_visible_) std::fputs("\r\033[K", stdout);
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
  if (bar_ && bar_visible_) draw(false);
}

void TrainProgress::finish() { draw(true); }

}  // namespace tinydiff
