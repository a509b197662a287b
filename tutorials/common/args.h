/// \file
/// \brief The command line every tutorial program shares: `--quick` and `--out DIR` (and, where a tutorial
/// accepts them, `--checkpoint FILE` and `--sampler NAME`).
///
/// Each tutorial is a runnable program. In full mode it does the real amount of work (a full
/// training run, the full sampling loops) in under two minutes on two cores; `--quick` shrinks
/// every loop so that CTest can run it in a few seconds and still check that each figure is
/// written. `--out DIR` says where the PNG figures and the CSV/gnuplot files behind them go
/// (created when missing; `tutorial_out/<tutorial>` by default).
///
/// A bad command line ends the program through run_program (tensor/program.h) as one line on
/// stderr, `tutorial_03_forward_process: error: unknown argument '--fast'; hint: run
/// 'tutorial_03_forward_process --help' for the options`, with exit code 1 (2 for a missing
/// `--checkpoint` file).
///
/// Usage:
/// \code
///   int tutorial_main(int argc, char** argv) {
///     const TutorialArgs args = parse_tutorial_args(argc, argv, "03_forward_process",
///                                                   "noising an image step by step and in one jump");
///     const int64_t steps = args.quick ? 200 : 6000;
///     save_png(args.path("t03_strip.png"), strip);
///     return 0;
///   }
///   int main(int argc, char** argv) {
///     return run_program("tutorial_03_forward_process", argc, argv, [&] { return tutorial_main(argc, argv); });
///   }
/// \endcode
#pragma once

#include <string>

#include "diffusion/sampling/sampler.h"

namespace tinydiff::tutorial {

/// What the command line asked for.
struct TutorialArgs {
  bool quick = false;      ///< `--quick`: small loops, for CI
  std::string out;         ///< `--out DIR`: the output folder (exists after parsing)
  std::string checkpoint;  ///< `--checkpoint FILE` (only where accepted): a trained model to reuse; empty: none
  /// `--sampler NAME` (only where accepted): ddim (the default), ddpm, euler, euler_a, heun or dpmpp_2m.
  SamplerKind sampler = SamplerKind::Ddim;

  /// `out` joined with a file name.
  std::string path(const std::string& file) const;
};

/// Parses `--quick`, `--out DIR` and `--help` (which prints a usage line naming the tutorial and
/// its one-line `summary`, then exits), `--checkpoint FILE` when `accepts_checkpoint` (the
/// tutorials that train a text-to-image model can reuse one instead) and `--sampler NAME` when
/// `accepts_sampler` (the tutorials that sample one). Creates the output folder.
/// Throws ProgramError (tensor/program.h; run_program prints it as one line) with kExitUsage on an
/// unknown argument or an option without its value, and with kExitBadFile when the checkpoint
/// file does not exist or the output folder cannot be created.
TutorialArgs parse_tutorial_args(int argc, char** argv, const std::string& name, const std::string& summary,
                                 bool accepts_checkpoint = false, bool accepts_sampler = false);

/// How the tutorials print a sampler in their output: "DDIM" for ddim, else its name ("dpmpp_2m").
std::string sampler_label(SamplerKind kind);

/// Prints a section heading to stdout ("== title ==" with a blank line before), so a tutorial's
/// console output reads like its lesson.
void heading(const std::string& title);

}  // namespace tinydiff::tutorial
