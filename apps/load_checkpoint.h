/// \file
/// \brief Loading the checkpoint a subcommand was given, with the one-line errors of a bad file.
///
/// `sample`, `invert`, `eval` and `info` all start from a `--checkpoint` written by `tinydiff train`; a missing
/// file or one that is not a tinydiff checkpoint ends the command with exit code 2 and one line that says so.
///
/// Usage:
/// \code
///   const TrainedModel m = load_checkpoint(a.checkpoint);          // the EMA weights
///   const TrainedModel raw = load_checkpoint(a.checkpoint, false); // the raw weights
/// \endcode
#pragma once

#include <string>

#include "diffusion/models/trained_model.h"

namespace tinydiff::cli {

/// The model in the checkpoint `path` (its EMA weights when `use_ema`). CliError(kExitBadFile) when the file does not
/// exist or cannot be loaded (the loader's reason in the message).
TrainedModel load_checkpoint(const std::string& path, bool use_ema = true);

}  // namespace tinydiff::cli
