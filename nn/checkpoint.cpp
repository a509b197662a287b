// Training checkpoints in one safetensors file. See checkpoint.h.
#include "nn/checkpoint.h"

#include <fmt/format.h>

#include <charconv>

#include "nn/state_dict.h"

namespace tinydiff {
namespace {

constexpr const char* kFormatKey = kCheckpointFormatKey;
constexpr const char* kEmaUpdatesKey = "tinydiff.ema_num_updates";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

template <typename Int>
bool parse_whole(const std::string& text, Int& out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer, const EMA* ema,
                     const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> meta;
  for (const auto& [key, value] : metadata) {
    TD_CHECK(!starts_with(key, "tinydiff."), "save_checkpoint",
             fmt::format("metadata key '{}' is reserved (keys starting with 'tinydiff.' are tinydiff's own)", key));
    meta.emplace(key, value);
  }
  meta[kFormatKey] = kCheckpointFormat;
  NamedTensors tensors = add_prefix(state_dict(model), "model.");
  if (ema != nullptr) {
    for (auto& t : ema->state_tensors("ema.")) tensors.push_back(std::move(t));
    meta[kEmaUpdatesKey] = std::to_string(ema->num_updates());
  }
  if (optimizer != nullptr)
    for (auto& t : optimizer->state_tensors("optim.")) tensors.push_back(std::move(t));
  save_safetensors(path, tensors, meta);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                                                   EMA* ema) {
  const SafetensorsData data = load_safetensors(path);  // format validation
  std::vector<std::string> problems;
  const auto format = data.metadata.find(kFormatKey);
  if (format == data.metadata.end())
    problems.push_back(fmt::format("file: no '{}' metadata; not a tinydiff training checkpoint", kFormatKey));
  else if (format->second != kCheckpointFormat)
    problems.push_back(fmt::format("file: format '{}' is not the supported '{}'", format->second, kCheckpointFormat));
  for (const auto& [name, t] : data.tensors)
    if (!starts_with(name, "model.") && !starts_with(name, "ema.") && !starts_with(name, "optim."))
      problems.push_back(fmt::format("file: unexpected tensor '{}' (expected model., ema. or optim. names)", name));

  const NamedTensors model_tensors = strip_prefix(data.tensors, "model.");
  for (const auto& p : state_dict_problems(model.named_parameters(), model_tensors, true))
    problems.push_back("model: " + p);
  int64_t ema_updates = 0;
  if (ema != nullptr) {
    for (const auto& p : ema->state_problems(data.tensors, "ema.")) problems.push_back("ema: " + p);
    // At most 2^53: exact as a double (the EMA's decay formula), and far from int64 overflow in
    // EMA::update (found with the fuzz harness: INT64_MAX here overflowed the next update).
    constexpr int64_t kMaxCount = int64_t{1} << 53;
    const auto it = data.metadata.find(kEmaUpdatesKey);
    if (it == data.metadata.end() || !parse_whole(it->second, ema_updates) || ema_updates < 0 ||
        ema_updates > kMaxCount)
      problems.push_back(fmt::format("ema: metadata '{}' is missing or not a count in [0, 2^53]", kEmaUpdatesKey));
  }
  if (optimizer != nullptr)
    for (const auto& p : optimizer->state_problems(data.tensors, "optim.")) problems.push_back("optim: " + p);

  if (!problems.empty()) {
    std::string msg =
        fmt::format("{}: {} problem{}; nothing was loaded:", path, problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error("load_checkpoint", msg);
  }

  // Everything checked: apply.
  load_state_dict(model, model_tensors, true);
  if (ema != nullptr) {
    ema->load_state_tensors(data.tensors, "ema.");
    ema->set_num_updates(ema_updates);
  }
  if (optimizer != nullptr) optimizer->load_state_tensors(data.tensors, "optim.");
  std::map<std::string, std::string> meta;
  for (const auto& [key, value] : data.metadata)
    if (!starts_with(key, "tinydiff.")) meta.emplace(key, value);
  return meta;
}

void load_checkpoint_weights(const std::string& path, Module& model, bool use_ema) {
  const SafetensorsData data = load_safetensors(path);
  const std::string prefix = use_ema ? "ema." : "model.";
  const NamedTensors tensors = strip_prefix(data.tensors, prefix);
  TD_CHECK(!tensors.empty(), "load_checkpoint_weights",
           fmt::format("{}: holds no '{}' tensors{}", path, prefix, use_ema ? " (saved without an EMA?)" : ""));
  const auto problems = state_dict_problems(model.named_parameters(), tensors, true);
  if (!problems.empty()) {
    std::string msg = fmt::format("{}: {} problem{} loading the '{}' weights:", path, problems.size(),
                                  problems.size() == 1 ? "" : "s", prefix);
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error("load_checkpoint_weights", msg);
  }
  load_state_dict(model, tensors, true);
}

std::string format_generator_state(const Generator::State& state) {
  return fmt::format("{}:{}", state.seed, state.offset);
}

Generator::State parse_generator_state(const std::string& text) {
  const size_t colon = text.find(':');
  Generator::State s;
  const bool ok = colon != std::string::npos && parse_whole(text.substr(0, colon), s.seed) &&
                  parse_whole(text.substr(colon + 1), s.offset);
  TD_CHECK(ok, "parse_generator_state",
           fmt::format("'{}' is not a generator state; expected \"seed:offset\" in decimal, e.g. \"42:1024\"", text));
  return s;
}

int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key) {
  const auto it = metadata.find(key);
  TD_CHECK(it != metadata.end(), "metadata_int", fmt::format("no metadata key '{}'", key));
  int64_t v = 0;
  TD_CHECK(parse_whole(it->second, v), "metadata_int",
           fmt::format("metadata '{}' is '{}', not a whole number", key, it->second));
  return v;
}

}  // namespace tinydiff
