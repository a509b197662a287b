/// \file
/// \brief The checkpoint schema of text-to-image models: the checkpoint's file name in a run's folder and every
/// metadata key, written and read here and nowhere else.
///
/// A text-to-image checkpoint is a training checkpoint (nn/checkpoint.h): the model's parameters
/// (`model.*`), their EMA (`ema.*`), the AdamW state (`optim.*`) and metadata strings. The trainer
/// writes the metadata with `checkpoint_metadata`; `load_trained_model` (trained_model.h), the
/// trainer's `--resume` and `tinydiff info` read it with `read_model_metadata` and
/// `read_training_metadata`. The keys:
///
///     model_type       "text-to-image"                                  (ModelMetadata)
///     config           the ModelConfig as JSON (model_config.h)
///     tokenizer        the tokenizer's text (tokenizer.h)
///     schedule         the noise schedule's name ("linear") and
///     num_timesteps    its length (1000)
///     prediction       what the network predicts ("epsilon")
///     dataset, step    the training data set's name and the number of steps trained
///     data             "folder" only: the folder, its image count and the preparation as JSON
///                      (folder, convention, images, uncaptioned, skipped, size, channels, resize,
///                      background, hflip, vocabulary, distinct_words, caption_tokens, unk_tokens,
///                      truncated_captions); absent for the built-in data sets
///     train_options    the trainer's options as JSON                    (TrainingMetadata)
///     rng.data, rng.noise, rng.dropout   the states of the trainer's three random streams
///     nonfinite_steps  steps skipped for a non-finite loss or gradient
///     elapsed_seconds  training wall time so far
///     parameter_count  the model's parameter count (for people reading the file)
///     written_by       "tinydiff VERSION (git COMMIT)" of the program that wrote the file (tensor/version.h);
///                      absent in checkpoints from before it was recorded
///
/// besides nn/checkpoint.h's own "tinydiff.format" and "tinydiff.ema_num_updates". `ModelMetadata`
/// is what sampling needs, `TrainingMetadata` what resuming needs besides the tensors.
///
/// Usage:
/// \code
///   save_checkpoint(checkpoint_file(out_dir), model, &adamw, &ema, checkpoint_metadata(model_meta, training_meta));
///   const std::string path = checkpoint_file(out_dir);             // out_dir/checkpoint.safetensors
///   step_checkpoint_file(out_dir, 1000);                           // out_dir/checkpoint-00001000.safetensors
///   ModelMetadata m = read_model_metadata(load_safetensors(path).metadata, path);
///   TextToImageModel model(m.config, gen);                          // then load the weights
/// \endcode
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "diffusion/models/model_config.h"
#include "diffusion/models/tokenizer.h"
#include "diffusion/process/prediction.h"
#include "diffusion/process/schedule.h"
#include "tensor/random.h"

namespace tinydiff {

/// The file name of the checkpoint in a training run's output folder.
inline constexpr const char* kCheckpointFileName = "checkpoint.safetensors";

/// The checkpoint of the training run writing into `out_dir`: `out_dir/checkpoint.safetensors`.
std::string checkpoint_file(const std::string& out_dir);

/// The step-numbered checkpoint of step `step` in `out_dir`, kept beside the rolling one with
/// `--keep-checkpoints`: `out_dir/checkpoint-00001000.safetensors` (8 digits, more when needed, so
/// the names sort by step).
std::string step_checkpoint_file(const std::string& out_dir, int64_t step);

/// The step of a step-numbered checkpoint's file name (the name only, e.g. "checkpoint-00001000.safetensors"
/// gives 1000), or nullopt for any other name (the rolling checkpoint, a temporary file, "checkpoint-12.bin").
std::optional<int64_t> step_checkpoint_step(const std::string& file_name);

/// The step-numbered checkpoints in `out_dir` as (step, path), oldest first (none when the folder does not exist).
std::vector<std::pair<int64_t, std::string>> step_checkpoint_files(const std::string& out_dir);

/// The "model_type" metadata value of text-to-image checkpoints.
inline constexpr const char* kTextToImageModelType = "text-to-image";

/// What a checkpoint says about its model: everything sampling needs besides the weights.
struct ModelMetadata {
  ModelConfig config;                           ///< the architecture
  std::optional<Tokenizer> tokenizer;           ///< the training tokenizer (set by read_model_metadata)
  NoiseSchedule schedule;                       ///< the training noise schedule (its name and T are stored)
  Prediction prediction = Prediction::Epsilon;  ///< what the network predicts
  std::string dataset;                          ///< the training data set ("fashion", "shapes")
  int64_t step = 0;                             ///< training steps done
  std::string data{};                           ///< the training folder as JSON (see the keys); "" for built-in sets
  std::string written_by{};                     ///< the tinydiff that wrote the file; "" when not recorded
};

/// What a checkpoint holds about its training run besides the tensors: what resuming needs.
struct TrainingMetadata {
  std::string train_options;     ///< the trainer's options as JSON (TrainOptions, training/trainer.h)
  Generator::State rng_data;     ///< the data stream: which images, caption wording
  Generator::State rng_noise;    ///< the noise stream: timesteps and \f$\epsilon\f$
  Generator::State rng_dropout;  ///< the dropout stream: which captions are dropped
  int64_t nonfinite_steps = 0;   ///< steps skipped for a non-finite loss or gradient, in total
  double elapsed_seconds = 0.0;  ///< training wall time of every run so far
  int64_t parameter_count = 0;   ///< the model's parameter count
};

/// The metadata strings of a text-to-image checkpoint (the keys of the file overview), for
/// save_checkpoint. Throws Error when `model.tokenizer` is not set.
std::map<std::string, std::string> checkpoint_metadata(const ModelMetadata& model, const TrainingMetadata& training);

/// Reads and checks the model part of a checkpoint's metadata (as load_safetensors returns it, with
/// "tinydiff.format"): the format, the model type, the config, the tokenizer (which must fit the
/// config), the noise schedule, the prediction type, the data set and the step, in that order, and
/// the optional "data".
/// Throws Error(`op`, ...) naming `path` and the problem, e.g. "PATH: not a text-to-image checkpoint
/// (no 'config' metadata)" or "PATH: holds a 'x' model, not a text-to-image model".
ModelMetadata read_model_metadata(const std::map<std::string, std::string>& metadata, const std::string& path,
                                  const char* op = "load_trained_model");

/// Reads the training part of a checkpoint's metadata (with or without nn/checkpoint.h's own keys).
/// Throws Error(`op`, ...) naming `path` and the missing or malformed key, e.g. "PATH: not a
/// text-to-image training checkpoint (no 'train_options' metadata)".
TrainingMetadata read_training_metadata(const std::map<std::string, std::string>& metadata, const std::string& path,
                                        const char* op);

}  // namespace tinydiff
