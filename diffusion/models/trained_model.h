/// \file
/// \brief `load_trained_model`: a trained text-to-image model, its tokenizer and its noise schedule, rebuilt from a
/// checkpoint.
///
/// A checkpoint written by the trainer (diffusion/training/trainer.h) describes its own model
/// (checkpoint_schema.h): the config, the tokenizer, the noise schedule and what the network
/// predicts. `load_trained_model` reads and checks that description, builds the model, and loads its
/// EMA weights (the ones to sample with) or its raw training weights, after checking every tensor
/// name and shape against the config. Nothing is built from a file that does not fit.
///
/// Usage:
/// \code
///   TrainedModel m = load_trained_model("run/checkpoint.safetensors");    // EMA weights
///   fmt::print("{} steps on '{}', config '{}'\n", m.step, m.dataset, m.config.name);
///   Tensor images = generate_images(*m.model, *m.tokenizer, m.schedule, prompts, x_T, gen, {});   // generate.h
/// \endcode
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "diffusion/models/model_config.h"
#include "diffusion/models/text_to_image.h"
#include "diffusion/models/tokenizer.h"
#include "diffusion/process/schedule.h"

namespace tinydiff {

/// A trained model rebuilt from a checkpoint.
struct TrainedModel {
  ModelConfig config;                           ///< the architecture
  std::unique_ptr<TextToImageModel> model;      ///< holding the loaded weights and the prediction type
  std::unique_ptr<Tokenizer> tokenizer;         ///< the training tokenizer
  NoiseSchedule schedule;                       ///< the training noise schedule
  std::string dataset;                          ///< the training data set ("fashion", "shapes")
  int64_t step = 0;                             ///< training steps done
  std::string written_by;                       ///< "tinydiff VERSION (git COMMIT)" that wrote it; "" if not recorded
  std::map<std::string, std::string> metadata;  ///< every metadata string of the file
};

/// Loads a text-to-image checkpoint: its EMA weights (`use_ema`) or its raw training weights.
/// Validates everything before building: the file format, the metadata (read_model_metadata), the
/// tokenizer against the config, every tensor name and shape against the config, and that every
/// weight is finite. Throws Error saying what is wrong (e.g. "not a text-to-image checkpoint",
/// "size mismatch for ...").
TrainedModel load_trained_model(const std::string& path, bool use_ema = true);

}  // namespace tinydiff
