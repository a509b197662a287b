/// \file
/// \brief What a training run reports: the JSONL log (`TrainLog`) and the progress display on stdout
/// (`TrainProgress`: a bar on a terminal, plain lines otherwise).
///
/// `log.jsonl` has one JSON object per step, flushed as it is written:
///
///     {"step":120,"loss":0.0712,"lr":0.0006,"grad_norm":0.41,"steps_per_s":2.9,"elapsed":41.3}
///
/// `loss` and `grad_norm` are printed exactly (shortest round-trip form), `null` when not
/// finite, and a skipped step adds `"skipped":true`; `elapsed` counts training seconds over all
/// runs. When a run resumes from a checkpoint at step s, `TrainLog` first drops the lines of
/// steps after s (written by a run that stopped after its last checkpoint), so the log reads as
/// if training had never stopped.
///
/// The progress display shows step/total, a bar, the smoothed loss (an exponential moving
/// average with bias correction, \f$\beta = 0.98\f$), steps per second, elapsed time and ETA.
///
/// Usage:
/// \code
///   TrainLog log("run/log.jsonl", resumed_step);
///   TrainProgress progress(true, total_steps, 0.0, step);
///   log.append({.step = 1, .loss = 0.9, .lr = 5e-6, .grad_norm = 2.1, .steps_per_s = 1.4, .elapsed = 0.7});
///   progress.update(1, 0.9, 1.4, 0.7, 0.7);
/// \endcode
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace tinydiff {

/// One line of log.jsonl.
struct LogEntry {
  int64_t step = 0;          ///< steps done after this one
  double loss = 0.0;         ///< batch loss
  double lr = 0.0;           ///< learning rate used
  double grad_norm = 0.0;    ///< gradient norm before clipping
  double steps_per_s = 0.0;  ///< recent training speed
  double elapsed = 0.0;      ///< training seconds so far, all runs
  bool skipped = false;      ///< update skipped (non-finite loss or norm)
};

/// The JSON text of one entry (without the newline).
std::string format_log_entry(const LogEntry& entry);

/// Appends entries to a JSONL file.
class TrainLog {
 public:
  /// Opens `path` for appending. With `keep_up_to_step` >= 0 the lines of later steps are
  /// removed first (the file is rewritten atomically); with -1 the file is started afresh.
  /// Throws Error naming the path when it cannot be written.
  TrainLog(std::string path, int64_t keep_up_to_step);
  ~TrainLog();
  TrainLog(const TrainLog&) = delete;
  TrainLog& operator=(const TrainLog&) = delete;
  /// Appends one line and flushes it.
  void append(const LogEntry& entry);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

/// "0:07", "12:34", "1:02:03" for seconds (negative or non-finite: "?").
std::string format_duration(double seconds);

/// The progress display of a training run (see the file comment).
class TrainProgress {
 public:
  /// `bar`: redraw one line in place (a terminal), else print a plain line every 15 s.
  /// `total_steps` (0: unknown) and `budget_seconds` (0: none) give the ETA; `start_step` is the
  /// step the run starts from. `enabled` = false prints nothing.
  TrainProgress(bool enabled, bool bar, int64_t total_steps, double budget_seconds, int64_t start_step);
  /// Reports a finished step: the loss (non-finite values are not smoothed in), the speed, the
  /// training time of all runs and the wall time of this run.
  void update(int64_t step, double loss, double steps_per_s, double elapsed, double run_seconds);
  /// Prints a message on its own line (the bar is redrawn below it).
  void message(const std::string& line);
  /// Ends the display with a final line.
  void finish();
  /// The smoothed loss so far (NaN before the first finite loss).
  double smoothed_loss() const;

 private:
  void draw(bool final_line);
  bool enabled_, bar_;
  int64_t total_steps_;
  double budget_seconds_;
  int64_t step_ = 0;
  double loss_avg_ = 0.0, loss_weight_ = 0.0;
  double steps_per_s_ = 0.0, elapsed_ = 0.0, run_seconds_ = 0.0;
  double last_draw_ = -1e30;
  bool bar_visible_ = false;
};

}  // namespace tinydiff
