/// \file
/// \brief What every program of the project does first and last: prepare the process (OpenMP
/// wait policy, OpenBLAS kernels for this CPU; tensor/process_env.h), and end every failure as
/// one line on stderr with a documented exit code, never with `terminate called` or a core dump.
///
/// The exit codes, one scheme for `tinydiff`, the tutorials and the bench programs:
///
/// | code | meaning |
/// |---|---|
/// | 0 | success |
/// | 1 | usage error: unknown option, missing or out-of-range value |
/// | 2 | bad file or folder: missing, corrupt or unwritable |
/// | 3 | training stopped: too many non-finite losses in a row |
/// | 4 | unexpected failure: out of memory, or an error that is a bug (please report it) |
/// | 130 | interrupted (Ctrl-C, SIGTERM) |
///
/// Usage (the whole of a program's main):
/// \code
///   int main(int argc, char** argv) {
///     return tinydiff::run_program("tutorial_05_reverse_process", argc, argv, [&] {
///       const TutorialArgs args = parse_tutorial_args(argc, argv, ...);
///       ...
///       return tinydiff::kExitOk;
///     });
///   }
/// \endcode
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace tinydiff {

inline constexpr int kExitOk = 0;              ///< success
inline constexpr int kExitUsage = 1;           ///< bad command line
inline constexpr int kExitBadFile = 2;         ///< a file or folder that cannot be read or written
inline constexpr int kExitTrainingFailed = 3;  ///< training diverged (non-finite values)
inline constexpr int kExitUnexpected = 4;      ///< out of memory, or an unexpected exception (a bug)
inline constexpr int kExitInterrupted = 130;   ///< SIGINT/SIGTERM (128 + 2, the shell's convention)

/// An error a program reports on one line and exits with `code`: `problem` says what is wrong,
/// `hint` what to do about it.
struct ProgramError : std::runtime_error {
  /// \param code the exit code; \param problem what is wrong; \param hint what to do.
  ProgramError(int code, const std::string& problem, std::string hint)
      : std::runtime_error(problem), code(code), hint(std::move(hint)) {}
  int code;          ///< the exit code
  std::string hint;  ///< what the user can do
};

/// Prints `<program>: error: <problem>[; hint: <hint>]` as one line on stderr (line breaks in
/// `problem` become "; ").
void print_program_error(const std::string& program, const std::string& problem, const std::string& hint);

/// Prints `<program>: warning: <text>` as one line on stderr.
void print_program_warning(const std::string& program, const std::string& text);

/// The whole main of a program: calls `prepare_process(argv)` (which may re-execute the
/// program once), then `body`, and turns every exception into one line on stderr:
/// `ProgramError` → its code; `tinydiff::Error` → 1 (a bad argument reaches the library as a
/// failed check); `std::bad_alloc` → 4 ("out of memory"); anything else → 4 ("unexpected").
/// Returns `body`'s result otherwise.
int run_program(const std::string& program, int argc, char** argv, const std::function<int()>& body);

}  // namespace tinydiff
