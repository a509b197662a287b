// The checkpoint schema of text-to-image models: file name and metadata keys. See checkpoint_schema.h.
#include "diffusion/models/checkpoint_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "nn/checkpoint.h"
#include "tensor/version.h"

namespace tinydiff {

namespace {

// The metadata keys (see the file overview of checkpoint_schema.h); nn/checkpoint.h adds its own.
constexpr const char* kModelType = "model_type";
constexpr const char* kConfig = "config";
constexpr const char* kTokenizer = "tokenizer";
constexpr const char* kSchedule = "schedule";
constexpr const char* kNumTimesteps = "num_timesteps";
constexpr const char* kPrediction = "prediction";
constexpr const char* kDataset = "dataset";
constexpr const char* kStep = "step";
constexpr const char* kData = "data";
constexpr const char* kTrainOptions = "train_options";
constexpr const char* kRngData = "rng.data";
constexpr const char* kRngNoise = "rng.noise";
constexpr const char* kRngDropout = "rng.dropout";
constexpr const char* kNonfiniteSteps = "nonfinite_steps";
constexpr const char* kElapsedSeconds = "elapsed_seconds";
constexpr const char* kParameterCount = "parameter_count";
constexpr const char* kWrittenBy = "written_by";

// The value under `key`, or Error "PATH: not a text-to-image <kind> (no 'KEY' metadata)".
const std::string& required(const std::map<std::string, std::string>& metadata, const std::string& key,
                            const std::string& path, const char* op, const char* kind) {
  const auto it = metadata.find(key);
  TD_CHECK(it != metadata.end(), op, fmt::format("{}: not a text-to-image {} (no '{}' metadata)", path, kind, key));
  return it->second;
}

}  // namespace

std::string checkpoint_file(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / kCheckpointFileName).string();
}

namespace {
constexpr const char* kStepPrefix = "checkpoint-";
constexpr const char* kStepSuffix = ".safetensors";
}  // namespace

std::string step_checkpoint_file(const std::string& out_dir, int64_t step) {
  TD_CHECK(step >= 0, "step_checkpoint_file", fmt::format("step must not be negative, got {}", step));
  return (std::filesystem::path(out_dir) / fmt::format("{}{:08}{}", kStepPrefix, step, kStepSuffix)).string();
}

std::optional<int64_t> step_checkpoint_step(const std::string& name) {
  const std::string prefix = kStepPrefix, suffix = kStepSuffix;
  if (name.size() < prefix.size() + 8 + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18) return std::nullopt;
  for (char ch : digits)
    if (ch < '0' || ch > '9') return std::nullopt;
  return std::stoll(digits);
}

std::vector<std::pair<int64_t, std::string>> step_checkpoint_files(const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(out_dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    if (const auto step = step_checkpoint_step(e.path().filename().string()))
      out.emplace_back(*step, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::string> checkpoint_metadata(const ModelMetadata& model, const TrainingMetadata& training) {
  TD_CHECK(model.tokenizer.has_value(), "checkpoint_metadata", "the model metadata has no tokenizer");
  std::map<std::string, std::string> out = {
      {kModelType, kTextToImageModelType},
      {kConfig, to_json(model.config)},
      {kTokenizer, model.tokenizer->to_text()},
      {kSchedule, model.schedule.name},
      {kNumTimesteps, std::to_string(model.schedule.num_timesteps)},
      {kPrediction, prediction_name(model.prediction)},
      {kDataset, model.dataset},
      {kStep, std::to_string(model.step)},
      {kRngData, format_generator_state(training.rng_data)},
      {kRngNoise, format_generator_state(training.rng_noise)},
      {kRngDropout, format_generator_state(training.rng_dropout)},
      {kTrainOptions, training.train_options},
      {kNonfiniteSteps, std::to_string(training.nonfinite_steps)},
      {kElapsedSeconds, fmt::format("{}", training.elapsed_seconds)},
      {kParameterCount, std::to_string(training.parameter_count)},
      {kWrittenBy, "tinydiff " + version_string()},
  };
  if (!model.data.empty()) out[kData] = model.data;
  return out;
}

ModelMetadata read_model_metadata(const std::map<std::string, std::string>& metadata, const std::string& path,
                                  const char* op) {
  const auto get = [&](const char* key) -> const std::string& {
    return required(metadata, key, path, op, "checkpoint");
  };
  const auto get_int = [&](const char* key) {
    get(key);
    return metadata_int(metadata, key);
  };
  TD_CHECK(get(kCheckpointFormatKey) == kCheckpointFormat, op,
           fmt::format("{}: checkpoint format '{}' is not the supported '{}'", path, get(kCheckpointFormatKey),
                       kCheckpointFormat));
  TD_CHECK(get(kModelType) == kTextToImageModelType, op,
           fmt::format("{}: holds a '{}' model, not a text-to-image model", path, get(kModelType)));
  ModelMetadata out;
  out.config = model_config_from_json(get(kConfig));
  out.tokenizer.emplace(Tokenizer::from_text(get(kTokenizer)));
  TD_CHECK(out.tokenizer->max_length() == out.config.max_length && out.tokenizer->vocab_size() <= out.config.vocab_size,
           op,
           fmt::format("{}: the tokenizer ({} words, length {}) does not fit the config (vocab {}, length {})", path,
                       out.tokenizer->vocab_size(), out.tokenizer->max_length(), out.config.vocab_size,
                       out.config.max_length));
  ScheduleOptions schedule;
  schedule.num_timesteps = get_int(kNumTimesteps);
  out.schedule = make_schedule(get(kSchedule), schedule);
  out.prediction = parse_prediction(get(kPrediction));
  out.dataset = get(kDataset);
  out.step = get_int(kStep);
  const auto data = metadata.find(kData);
  if (data != metadata.end()) out.data = data->second;
  const auto written_by = metadata.find(kWrittenBy);
  if (written_by != metadata.end()) out.written_by = written_by->second;
  return out;
}

TrainingMetadata read_training_metadata(const std::map<std::string, std::string>& metadata, const std::string& path,
                                        const char* op) {
  const auto get = [&](const char* key) -> const std::string& {
    return required(metadata, key, path, op, "training checkpoint");
  };
  const auto get_int = [&](const char* key) {
    get(key);
    return metadata_int(metadata, key);
  };
  TrainingMetadata out;
  out.train_options = get(kTrainOptions);
  out.rng_data = parse_generator_state(get(kRngData));
  out.rng_noise = parse_generator_state(get(kRngNoise));
  out.rng_dropout = parse_generator_state(get(kRngDropout));
  out.nonfinite_steps = get_int(kNonfiniteSteps);
  const std::string& elapsed = get(kElapsedSeconds);
  char* end = nullptr;
  out.elapsed_seconds = std::strtod(elapsed.c_str(), &end);
  TD_CHECK(!elapsed.empty() && end == elapsed.c_str() + elapsed.size(), op,
           fmt::format("{}: metadata '{}' is '{}', not a number of seconds", path, kElapsedSeconds, elapsed));
  out.parameter_count = get_int(kParameterCount);
  return out;
}

}  // namespace tinydiff
