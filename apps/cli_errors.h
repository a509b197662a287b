/// \file
/// \brief Exit codes of the `tinydiff` command and `CliError`, the one-line error every subcommand reports.
///
/// The exit codes are those of every program of the project (tensor/program.h): 0 success,
/// 1 usage error (unknown flag, missing or out-of-range value, unknown data set or sampler,
/// options that contradict the checkpoint), 2 bad file (missing or corrupt checkpoint, missing
/// data set, output folder that cannot be written, an editing file — init image, mask, noise — that is
/// unreadable or does not fit the model), 3 training stopped (too many non-finite
/// losses in a row), 4 unexpected failure (out of memory, or a bug), 130 interrupted (Ctrl-C,
/// SIGTERM; training saved a checkpoint first).
///
/// Every error is one line on stderr, `tinydiff: error: <problem>; hint: <what to do>`, and
/// never a stack trace: main() catches everything.
///
/// Usage:
/// \code
///   if (count < 1) throw CliError(kExitUsage, fmt::format("--count must be at least 1, got {}", count),
///                                 "ask for one image or more");
/// \endcode
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tensor/program.h"

namespace tinydiff::cli {

// One exit-code scheme for every program (tensor/program.h).
using tinydiff::kExitBadFile;
using tinydiff::kExitInterrupted;
using tinydiff::kExitOk;
using tinydiff::kExitTrainingFailed;
using tinydiff::kExitUnexpected;
using tinydiff::kExitUsage;

/// An error to report on one line and exit with `code`.
class CliError : public std::runtime_error {
 public:
  /// `problem`: what is wrong; `hint`: what to do about it.
  CliError(int code, std::string problem, std::string hint)
      : std::runtime_error(problem), code_(code), hint_(std::move(hint)) {}
  /// The exit code.
  int code() const { return code_; }
  /// What the user can do.
  const std::string& hint() const { return hint_; }

 private:
  int code_;
  std::string hint_;
};

/// Ends a subcommand with an exit code after it has printed what it had to say (e.g. 130).
struct CliExit {
  int code;  ///< the exit code
};

/// `text` on one line: line breaks become "; " and runs of spaces one space; after
/// `max_lines` lines the rest is summarised as "(and N more)". Library errors list problems
/// one per line; this keeps the first few.
inline std::string one_line(std::string_view text, int max_lines = 4) {
  std::string out;
  int lines = 0, dropped = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) {
      if (lines < max_lines) {
        if (!out.empty()) out += (out.back() == ':' ? " " : "; ");
        out += line;
      } else {
        ++dropped;
      }
      ++lines;
    }
    start = end + 1;
  }
  if (dropped > 0) out += "; (and " + std::to_string(dropped) + " more)";
  return out;
}

/// Prints `tinydiff: error: <problem>; hint: <hint>` as one line on stderr.
inline void print_error(const std::string& problem, const std::string& hint) {
  std::string line = "tinydiff: error: " + one_line(problem);
  if (!hint.empty()) line += "; hint: " + one_line(hint);
  std::fputs((line + "\n").c_str(), stderr);
}

/// Prints `tinydiff: warning: <text>` as one line on stderr.
inline void print_warning(const std::string& text) {
  std::fputs(("tinydiff: warning: " + one_line(text) + "\n").c_str(), stderr);
}

}  // namespace tinydiff::cli
