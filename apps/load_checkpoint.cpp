// Loading a subcommand's --checkpoint (apps/load_checkpoint.h).
#include "apps/load_checkpoint.h"

#include <fmt/format.h>

#include <filesystem>

#include "apps/cli_errors.h"

namespace tinydiff::cli {

TrainedModel load_checkpoint(const std::string& path, bool use_ema) {
  if (!std::filesystem::exists(path))
    throw CliError(kExitBadFile, fmt::format("the checkpoint '{}' does not exist", path),
                   "train one with 'tinydiff train --out DIR' and pass DIR/checkpoint.safetensors");
  try {
    return load_trained_model(path, use_ema);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot load the checkpoint: {}", e.what()),
                   "pass a checkpoint.safetensors written by 'tinydiff train'");
  }
}

}  // namespace tinydiff::cli
