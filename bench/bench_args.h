/// \file
/// \brief The bench programs' command lines: CLI11 (as the tinydiff command), with the errors
/// and exit codes of every program of the project (tensor/program.h).
///
/// A bad command line (an unknown option, a number that is not one or is out of range, a
/// missing value) ends the program as one line on stderr, e.g.
/// `tinydiff-bench: error: --threads: Value abc could not be converted; hint: run 'tinydiff-bench --help' for the
/// options`, with exit code 1; `--help` prints every option and ends with 0.
///
/// Usage (inside `run_program`):
/// \code
///   CLI::App app{"tinydiff-bench-kernels: ...", "tinydiff-bench-kernels"};
///   app.add_flag("--quick", quick, "3 repetitions instead of 10");
///   if (!parse_bench_args(app, argc, argv)) return kExitOk;  // --help was printed
/// \endcode
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "tensor/program.h"

namespace tinydiff::bench {

/// Parses `argv` into the options of `app`. Returns false after printing the help (`--help`):
/// the program should then end with kExitOk. Throws ProgramError(kExitUsage, CLI11's message,
/// a hint naming `--help`) on a bad command line.
inline bool parse_bench_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return true;
  } catch (const CLI::Success&) {  // --help
    std::fputs(app.help().c_str(), stdout);
    return false;
  } catch (const CLI::ParseError& e) {
    throw ProgramError(kExitUsage, e.what(), "run '" + app.get_name() + " --help' for the options");
  }
}

}  // namespace tinydiff::bench
