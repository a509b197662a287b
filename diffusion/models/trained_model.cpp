// A trained model rebuilt from its checkpoint. See trained_model.h.
#include "diffusion/models/trained_model.h"

#include <fmt/format.h>

#include "diffusion/models/checkpoint_schema.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"

namespace tinydiff {

TrainedModel load_trained_model(const std::string& path, bool use_ema) {
  const SafetensorsData data = load_safetensors(path);  // validates the file format
  ModelMetadata meta = read_model_metadata(data.metadata, path, "load_trained_model");

  TrainedModel out;
  out.config = meta.config;
  out.tokenizer = std::make_unique<Tokenizer>(std::move(*meta.tokenizer));
  out.schedule = std::move(meta.schedule);
  out.dataset = meta.dataset;
  out.step = meta.step;
  out.written_by = meta.written_by;
  out.metadata = data.metadata;

  Generator init(0);  // the weights are overwritten below
  out.model = std::make_unique<TextToImageModel>(out.config, init, meta.prediction);
  const std::string prefix = use_ema ? "ema." : "model.";
  const NamedTensors tensors = strip_prefix(data.tensors, prefix);
  TD_CHECK(!tensors.empty(), "load_trained_model", fmt::format("{}: holds no '{}' weights", path, prefix));
  const auto problems = state_dict_problems(out.model->named_parameters(), tensors, true);
  if (!problems.empty()) {
    std::string msg = fmt::format("{}: the '{}' weights do not fit its config '{}' ({} problem{}):", path, prefix,
                                  out.config.name, problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error("load_trained_model", msg);
  }
  load_state_dict(*out.model, tensors, true);
  for (const auto& [name, p] : out.model->named_parameters())
    TD_CHECK(all_finite(p.value()), "load_trained_model",
             fmt::format("{}: weight '{}' holds non-finite values", path, name));
  return out;
}

}  // namespace tinydiff
