// The checkpoint schema: the file name, the metadata keys (fixed: checkpoints written before must
// keep loading), a write/read round trip, and errors that name the file and the key.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>

#include "diffusion/models/checkpoint_schema.h"
#include "nn/checkpoint.h"
#include "tensor/version.h"

using namespace tinydiff;

namespace {

ModelMetadata model_metadata() {
  ModelMetadata m;
  m.config = model_config("micro", 3);
  m.tokenizer.emplace(Tokenizer::build({"a red circle", "a small blue square at the top"}));
  m.schedule = make_schedule("cosine", {.num_timesteps = 200});
  m.prediction = Prediction::V;
  m.dataset = "shapes";
  m.step = 1234;
  return m;
}

TrainingMetadata training_metadata() {
  TrainingMetadata t;
  t.train_options = R"({"batch":16,"seed":1})";
  t.rng_data = {7, 3776};
  t.rng_noise = {8, 368880};
  t.rng_dropout = {9, 120};
  t.nonfinite_steps = 2;
  t.elapsed_seconds = 12.728559538;
  t.parameter_count = 1293155;
  return t;
}

// The metadata as load_safetensors returns it: with nn/checkpoint.h's own keys.
std::map<std::string, std::string> as_in_file() {
  auto meta = checkpoint_metadata(model_metadata(), training_metadata());
  meta[kCheckpointFormatKey] = kCheckpointFormat;
  meta["tinydiff.ema_num_updates"] = "1234";
  return meta;
}

}  // namespace

TEST_CASE("the checkpoint lives in out_dir/checkpoint.safetensors", "[model][checkpoint]") {
  CHECK(checkpoint_file("runs/fashion") == "runs/fashion/checkpoint.safetensors");
  CHECK(checkpoint_file("runs/fashion/") == "runs/fashion/checkpoint.safetensors");
  CHECK(std::string(kCheckpointFileName) == "checkpoint.safetensors");
}

TEST_CASE("checkpoint metadata has the documented keys and reads back what was written", "[model][checkpoint]") {
  const auto meta = checkpoint_metadata(model_metadata(), training_metadata());
  std::set<std::string> keys;
  for (const auto& [key, value] : meta) keys.insert(key);
  // Written by every checkpoint since the format's first version: renaming one breaks old files.
  CHECK(keys == std::set<std::string>{"model_type", "config", "tokenizer", "schedule", "num_timesteps", "prediction",
                                      "dataset", "step", "train_options", "rng.data", "rng.noise", "rng.dropout",
                                      "nonfinite_steps", "elapsed_seconds", "parameter_count", "written_by"});
  CHECK(meta.at("model_type") == "text-to-image");
  CHECK(meta.at("schedule") == "cosine");
  CHECK(meta.at("num_timesteps") == "200");
  CHECK(meta.at("prediction") == "v");
  CHECK(meta.at("step") == "1234");
  CHECK(meta.at("rng.noise") == "8:368880");
  CHECK(meta.at("elapsed_seconds") == "12.728559538");
  CHECK(meta.at("written_by") == "tinydiff " + version_string());

  const ModelMetadata m = read_model_metadata(as_in_file(), "x.safetensors");
  CHECK(to_json(m.config) == to_json(model_metadata().config));
  REQUIRE(m.tokenizer.has_value());
  CHECK(m.tokenizer->to_text() == model_metadata().tokenizer->to_text());
  CHECK(m.schedule.name == "cosine");
  CHECK(m.schedule.num_timesteps == 200);
  CHECK(m.prediction == Prediction::V);
  CHECK(m.dataset == "shapes");
  CHECK(m.step == 1234);
  CHECK(m.written_by == "tinydiff " + version_string());

  const TrainingMetadata t = read_training_metadata(as_in_file(), "x.safetensors", "test");
  CHECK(t.train_options == training_metadata().train_options);
  CHECK(t.rng_data.seed == 7);
  CHECK(t.rng_data.offset == 3776);
  CHECK(t.rng_noise.offset == 368880);
  CHECK(t.rng_dropout.seed == 9);
  CHECK(t.nonfinite_steps == 2);
  CHECK(t.elapsed_seconds == 12.728559538);  // the shortest text that reads back exactly
  CHECK(t.parameter_count == 1293155);
}

TEST_CASE("checkpoint metadata errors name the file and the key", "[model][checkpoint][errors]") {
  const auto without = [](const std::string& key) {
    auto meta = as_in_file();
    meta.erase(key);
    return meta;
  };
  const auto with = [](const std::string& key, const std::string& value) {
    auto meta = as_in_file();
    meta[key] = value;
    return meta;
  };
  CHECK_THROWS_WITH(read_model_metadata(without("tinydiff.format"), "plain.safetensors"),
                    "load_trained_model: plain.safetensors: not a text-to-image checkpoint (no 'tinydiff.format' "
                    "metadata)");
  CHECK_THROWS_WITH(read_model_metadata(without("config"), "c.safetensors", "Trainer"),
                    Catch::StartsWith("Trainer: c.safetensors: not a text-to-image checkpoint (no 'config' metadata)"));
  CHECK_THROWS_WITH(read_model_metadata(with("model_type", "classifier"), "c.safetensors"),
                    Catch::Contains("c.safetensors: holds a 'classifier' model, not a text-to-image model"));
  CHECK_THROWS_WITH(read_model_metadata(with("tinydiff.format", "tinydiff-checkpoint-v0"), "c.safetensors"),
                    Catch::Contains("checkpoint format 'tinydiff-checkpoint-v0' is not the supported"));
  ModelConfig shorter = model_config("micro", 3);
  shorter.max_length = 8;  // the tokenizer encodes 16 tokens
  CHECK_THROWS_WITH(read_model_metadata(with("config", to_json(shorter)), "c.safetensors"),
                    Catch::Contains("the tokenizer (") && Catch::Contains("length 16) does not fit the config"));
  CHECK_THROWS_WITH(read_model_metadata(without("num_timesteps"), "c.safetensors"),
                    Catch::Contains("(no 'num_timesteps' metadata)"));
  CHECK_THROWS_WITH(read_model_metadata(with("step", "12a"), "c.safetensors"),
                    Catch::Contains("metadata 'step' is '12a', not a whole number"));
  CHECK_THROWS_WITH(read_model_metadata(with("prediction", "score"), "c.safetensors"),
                    Catch::Contains("unknown prediction type 'score'"));

  CHECK_THROWS_WITH(read_training_metadata(without("rng.noise"), "c.safetensors", "Trainer"),
                    "Trainer: c.safetensors: not a text-to-image training checkpoint (no 'rng.noise' metadata)");
  CHECK_THROWS_WITH(read_training_metadata(with("elapsed_seconds", "soon"), "c.safetensors", "info"),
                    Catch::Contains("metadata 'elapsed_seconds' is 'soon', not a number of seconds"));
  ModelMetadata no_tokenizer = model_metadata();
  no_tokenizer.tokenizer.reset();
  CHECK_THROWS_WITH(checkpoint_metadata(no_tokenizer, training_metadata()), Catch::Contains("no tokenizer"));
}
