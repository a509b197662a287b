/// \file
/// \brief The subcommands of the `tinydiff` program: one `add_*_command` function per subcommand, each in its own
/// `cmd_*.cpp`.
///
/// Each function adds a CLI11 subcommand with its options and a callback that runs it. A
/// callback reports failure by throwing `CliError` (cli_errors.h) — main() prints it on one line
/// and exits with its code — or ends with a specific code by throwing `CliExit`; returning
/// normally exits with 0. To add a subcommand: write `apps/cmd_NAME.cpp` defining
/// `void add_NAME_command(CLI::App& app)` in namespace tinydiff::cli, declare it below and add
/// the call to add_all_commands (the order there is the order of `tinydiff --help`).
///
/// Usage (apps/main.cpp):
/// \code
///   CLI::App app{"tinydiff"};
///   tinydiff::cli::add_all_commands(app);
///   app.parse(argc, argv);     // runs the chosen subcommand's callback
/// \endcode
#pragma once

#include <CLI/CLI.hpp>

namespace tinydiff::cli {

/// `tinydiff train`: trains a text-to-image model (apps/cmd_train.cpp).
void add_train_command(CLI::App& app);
/// `tinydiff sample`: generates images for a prompt from a checkpoint (apps/cmd_sample.cpp).
void add_sample_command(CLI::App& app);
/// `tinydiff invert`: DDIM inversion of an image to the noise `sample --init-noise` starts from (apps/cmd_invert.cpp).
void add_invert_command(CLI::App& app);
/// `tinydiff info`: describes a checkpoint (apps/cmd_info.cpp).
void add_info_command(CLI::App& app);
/// `tinydiff eval`: scores a checkpoint over a sweep of guidance scales (apps/cmd_eval.cpp).
void add_eval_command(CLI::App& app);
/// `tinydiff train-classifier`: trains and caches the Fashion-MNIST judge of `eval` (apps/cmd_train_classifier.cpp).
void add_train_classifier_command(CLI::App& app);

/// A CLI11 check for unsigned options (seeds): CLI11 would otherwise turn "-1" into 2^64 - 1.
inline CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& value) {
        return value.find('-') == std::string::npos ? std::string() : "must be a whole number >= 0, got " + value;
      },
      "");
}

/// Adds every subcommand to `app`, in the order `tinydiff --help` lists them.
inline void add_all_commands(CLI::App& app) {
  add_train_command(app);
  add_sample_command(app);
  add_invert_command(app);
  add_info_command(app);
  add_eval_command(app);
  add_train_classifier_command(app);
}

}  // namespace tinydiff::cli
