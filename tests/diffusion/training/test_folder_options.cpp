// The training options of image folders: the model config follows --image-size (attention at the
// same U-Net levels) and --vocab-size, and data_options passes the folder, size, channels and
// preparation on to the data set.
#include <catch2/catch.hpp>

#include "diffusion/models/checkpoint_schema.h"
#include "diffusion/training/train_options.h"
#include "nn/checkpoint.h"
#include "tensor/error.h"

using namespace tinydiff;

TEST_CASE("training_model_config follows image_size and vocab_size", "[trainer][image_folder]") {
  TrainOptions o;
  const ModelConfig base = training_model_config(o, 3);
  CHECK(base.image_size == 32);
  CHECK(base.attention_resolutions == std::vector<int64_t>{8});
  CHECK(base.vocab_size == 256);
  o.image_size = 64;
  o.vocab_size = 1024;
  const ModelConfig big = training_model_config(o, 3);
  CHECK(big.image_size == 64);
  CHECK(big.attention_resolutions == std::vector<int64_t>{16});  // still the third level: 64 -> 32 -> 16
  CHECK(big.vocab_size == 1024);
  CHECK(big.image_channels == 3);
  o.image_size = 48;
  CHECK(training_model_config(o, 1).attention_resolutions == std::vector<int64_t>{12});
  o.image_size = 34;  // 8 * 34 / 32 is not whole
  CHECK_THROWS_WITH(training_model_config(o, 1), Catch::Contains("no whole-number counterpart"));
}

TEST_CASE("data_options of a folder carry its preparation", "[trainer][image_folder]") {
  TrainOptions o;
  o.dataset = std::string("folder");  // (not a literal: GCC 12 -Wrestrict warns falsely)
  o.data = std::string("pictures");
  o.image_size = 64;
  o.channels = 1;
  o.resize = std::string("pad");
  o.background = std::string("black");
  o.skip_bad = true;
  o.flip = true;
  const DataOptions d = data_options(o);
  CHECK(d.flip);
  CHECK(d.folder.dir == "pictures");
  CHECK(d.folder.prepare.size == 64);
  CHECK(d.folder.prepare.channels == 1);
  CHECK(d.folder.prepare.resize == ResizeMode::Pad);
  CHECK(d.folder.prepare.background == Background::Black);
  CHECK(d.folder.skip_bad);
  CHECK(d.folder.cache_dir.find("datasets") != std::string::npos);
  // A folder needs the data set "folder", and "folder" needs a folder.
  o.out_dir = std::string("out");
  o.steps = 1;
  REQUIRE_NOTHROW(validate(o));
  TrainOptions no_dir = o;
  no_dir.data.clear();
  CHECK_THROWS_WITH(validate(no_dir), Catch::Contains("needs a folder"));
  TrainOptions wrong = o;
  wrong.dataset = std::string("shapes");
  CHECK_THROWS_WITH(validate(wrong), Catch::Contains("use dataset 'folder'"));
  TrainOptions two = o;
  two.channels = 2;
  CHECK_THROWS_WITH(validate(two), Catch::Contains("channels must be 0 (from the data), 1 or 3"));
}

TEST_CASE("a checkpoint keeps the training folder's description under 'data', only when there is one",
          "[trainer][image_folder][checkpoint]") {
  ModelMetadata m;
  m.config = model_config("micro", 3);
  m.tokenizer.emplace(Tokenizer::build({"a smiley cat"}));
  m.schedule = make_schedule("linear", {.num_timesteps = 10});
  m.dataset = "folder";
  const TrainingMetadata t{};
  CHECK(checkpoint_metadata(m, t).count("data") == 0);  // built-in sets: no key
  m.data = R"({"folder":"/x/emoji","images":881})";
  auto meta = checkpoint_metadata(m, t);
  REQUIRE(meta.count("data") == 1);
  CHECK(meta.at("data") == m.data);
  meta[kCheckpointFormatKey] = kCheckpointFormat;
  CHECK(read_model_metadata(meta, "x.safetensors").data == m.data);
  meta.erase("data");  // checkpoints written before: no data
  CHECK(read_model_metadata(meta, "x.safetensors").data.empty());
}
