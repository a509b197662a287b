// The trainer's conveniences for users of diffusers: --validation-prompt (the prompts of the sample
// grids, kept through a resume) and --keep-checkpoints (step-numbered checkpoints beside the rolling
// one, the oldest deleted, the rolling one always the latest); the step-numbered file names.
#include <omp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "diffusion/data/image_io.h"
#include "diffusion/models/checkpoint_schema.h"
#include "diffusion/models/trained_model.h"
#include "diffusion/training/trainer.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// Two fixed 32x32 grayscale images (left half, right half bright) with one caption each.
class TwoImages : public TrainingData {
 public:
  TwoImages() {
    images_ = Tensor::full({2, 1, 32, 32}, -1.0);  // (2, 1, 32, 32)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 16; ++x) {
        images_.set({0, 0, y, x}, 1.0);
        images_.set({1, 0, y, x + 16}, 1.0);
      }
  }
  std::string name() const override { return "two"; }
  int64_t image_channels() const override { return 1; }
  int64_t image_size() const override { return 32; }
  TrainingBatch next_batch(Generator& gen, int64_t batch) const override {
    const Tensor index = gen.randint(0, 2, {batch});  // (B)
    TrainingBatch b;
    b.images = index_select(images_, 0, index);  // (B, 1, 32, 32)
    for (int64_t i = 0; i < batch; ++i) b.captions.push_back(captions()[static_cast<size_t>(index.at({i}))]);
    return b;
  }
  std::vector<std::string> vocabulary_captions() const override { return captions(); }
  std::vector<std::string> preview_prompts() const override { return captions(); }
  int64_t example_count() const override { return 2; }
  TrainingBatch examples(int64_t begin, int64_t count) const override {
    const std::vector<std::string> all = captions();
    return {images_.slice(0, begin, begin + count).contiguous(),
            std::vector<std::string>(all.begin() + begin, all.begin() + begin + count)};
  }
  static std::vector<std::string> captions() { return {"left", "right"}; }

 private:
  Tensor images_;
};

// A fresh folder of this process (CTest runs test cases as separate processes at once).
std::string fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::path(TINYDIFF_BINARY_DIR) / "test_runs" / ("conveniences-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  return dir.string();
}

TrainOptions micro_options(const std::string& dir) {
  TrainOptions o;
  o.dataset = "two";
  o.out_dir = dir;
  o.config = "micro";
  o.batch = 2;
  o.seed = 3;
  o.warmup = 2;
  o.checkpoint_every = 0;
  o.sample_every = 0;
  o.preview_per_prompt = 1;
  o.preview_steps = 2;
  o.progress = ProgressStyle::None;
  return o;
}

// The steps of the step-numbered checkpoints in `dir`, oldest first.
std::vector<int64_t> kept_steps(const std::string& dir) {
  std::vector<int64_t> steps;
  for (const auto& [step, path] : step_checkpoint_files(dir)) steps.push_back(step);
  return steps;
}

}  // namespace

TEST_CASE("step-numbered checkpoint names are built and read back only by the checkpoint schema", "[checkpoint]") {
  CHECK(fs::path(step_checkpoint_file("runs/x", 1000)).filename() == "checkpoint-00001000.safetensors");
  CHECK(fs::path(step_checkpoint_file("runs/x", 123456789)).filename() == "checkpoint-123456789.safetensors");
  CHECK(step_checkpoint_step("checkpoint-00001000.safetensors") == 1000);
  CHECK(step_checkpoint_step("checkpoint-123456789.safetensors") == 123456789);
  CHECK_FALSE(step_checkpoint_step("checkpoint.safetensors").has_value());
  CHECK_FALSE(step_checkpoint_step("checkpoint-00001000.safetensors.tmp").has_value());
  CHECK_FALSE(step_checkpoint_step("checkpoint-0000x000.safetensors").has_value());
  CHECK_FALSE(step_checkpoint_step("checkpoint-12.safetensors").has_value());
  CHECK_THROWS_WITH(step_checkpoint_file("d", -1), Catch::Contains("must not be negative"));
}

TEST_CASE("validation prompts replace the data set's prompts in the sample grids and survive a resume",
          "[trainer][preview]") {
  omp_set_num_threads(1);
  const std::string dir = fresh_dir("validation");
  TrainOptions o = micro_options(dir);
  o.steps = 4;
  o.validation_prompts = {"right", "left", "left right", "a word never seen"};
  {
    Trainer a(o, std::make_unique<TwoImages>());
    CHECK(a.preview_prompts() == o.validation_prompts);
    a.train_step();
    // The grid has one column per validation prompt (4 x 32 pixels with 2-pixel padding, enlarged 2x),
    // where the data set's prompts would give 2.
    const std::string grid = a.write_preview();
    CHECK(load_png(grid).size(2) == 2 * (4 * 32 + 5 * 2));
    a.save_checkpoint();
  }
  // Stored with the options: a resumed run keeps them.
  int64_t step = 0;
  const TrainOptions stored = read_checkpoint_train_options(checkpoint_file(dir), &step);
  CHECK(step == 1);
  CHECK(stored.validation_prompts == o.validation_prompts);
  TrainOptions resumed = stored;
  resumed.out_dir = dir;
  resumed.resume = true;
  resumed.progress = ProgressStyle::None;
  Trainer b(resumed, std::make_unique<TwoImages>());
  CHECK(b.preview_prompts() == o.validation_prompts);
  // Without them, the data set's prompts.
  TrainOptions plain = micro_options(fresh_dir("validation_none"));
  plain.steps = 1;
  Trainer c(plain, std::make_unique<TwoImages>());
  CHECK(c.preview_prompts() == TwoImages::captions());
  // More than kMaxValidationPrompts is an error naming the option.
  TrainOptions many = plain;
  many.validation_prompts.assign(kMaxValidationPrompts + 1, "left");
  CHECK_THROWS_WITH(validate(many), Catch::Contains("validation_prompts takes at most 64 prompts, got 65"));
}

TEST_CASE("keep_checkpoints keeps exactly the last N step-numbered checkpoints, and resume takes the latest",
          "[trainer][checkpoint]") {
  omp_set_num_threads(1);
  const std::string dir = fresh_dir("keep");
  TrainOptions o = micro_options(dir);
  o.steps = 7;
  o.checkpoint_every = 2;
  o.keep_checkpoints = 2;
  {
    Trainer a(o, std::make_unique<TwoImages>());
    const TrainResult r = a.run();
    CHECK(r.step == 7);
  }
  // Checkpoints at 2, 4, 6 (every 2 steps) and the final rolling one at 7: numbered 4 and 6 are kept.
  CHECK(kept_steps(dir) == std::vector<int64_t>{4, 6});
  CHECK(load_trained_model(step_checkpoint_file(dir, 6)).step == 6);
  CHECK(load_trained_model(step_checkpoint_file(dir, 4)).step == 4);
  CHECK(load_trained_model(checkpoint_file(dir)).step == 7);  // the rolling one is the latest
  for (const auto& e : fs::directory_iterator(dir))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);  // nothing half-written left

  // Resume takes the rolling checkpoint (step 7), not the newest numbered one, and keeps pruning.
  TrainOptions r = o;
  r.resume = true;
  r.steps = 12;
  Trainer b(r, std::make_unique<TwoImages>());
  CHECK(b.step() == 7);
  b.run();
  CHECK(kept_steps(dir) == std::vector<int64_t>{10, 12});  // numbered at 8, 10, 12; the last 2 kept
  CHECK(load_trained_model(checkpoint_file(dir)).step == 12);
  for (const auto& [step, path] : step_checkpoint_files(dir))
    CHECK(step <= load_trained_model(checkpoint_file(dir)).step);

  // 0 (the default) writes none.
  TrainOptions none = micro_options(fresh_dir("keep_none"));
  none.steps = 4;
  none.checkpoint_every = 2;
  Trainer c(none, std::make_unique<TwoImages>());
  c.run();
  CHECK(kept_steps(none.out_dir).empty());
  TrainOptions negative = none;
  negative.keep_checkpoints = -1;
  CHECK_THROWS_WITH(validate(negative), Catch::Contains("keep_checkpoints must not be negative, got -1"));
  TrainOptions no_interval = none;
  no_interval.keep_checkpoints = 2;
  no_interval.checkpoint_every = 0;  // only at the end: there would be nothing to keep
  CHECK_THROWS_WITH(validate(no_interval), Catch::Contains("keep_checkpoints 2 needs checkpoints at an interval"));
}

namespace {

// Random 64x64 RGB images with two captions: a stand-in for a user's folder at 64 pixels.
class Rgb64 : public TrainingData {
 public:
  std::string name() const override { return "rgb64"; }
  int64_t image_channels() const override { return 3; }
  int64_t image_size() const override { return 64; }
  TrainingBatch next_batch(Generator& gen, int64_t batch) const override {
    TrainingBatch b;
    b.images = gen.uniform({batch, 3, 64, 64}, -1.0, 1.0);  // (B, 3, 64, 64)
    for (int64_t i = 0; i < batch; ++i) b.captions.push_back(i % 2 ? "left" : "right");
    return b;
  }
  std::vector<std::string> vocabulary_captions() const override { return {"left", "right"}; }
  std::vector<std::string> preview_prompts() const override { return {"left"}; }
  int64_t example_count() const override { return 0; }
  TrainingBatch examples(int64_t, int64_t) const override { return {}; }
};

}  // namespace

TEST_CASE("the model follows the data's image size and channels where the config allows it", "[trainer][config]") {
  omp_set_num_threads(1);
  TrainOptions o = micro_options(fresh_dir("rgb64"));
  o.dataset = "rgb64";
  o.config = "tiny64";
  o.steps = 1;
  Trainer t(o, std::make_unique<Rgb64>());
  CHECK(t.model().config().image_size == 64);
  CHECK(t.model().config().image_channels == 3);
  CHECK(std::isfinite(t.train_step().loss));
  // A config made for 32x32 images refuses 64x64 data, naming the one to use.
  TrainOptions tiny = micro_options(fresh_dir("rgb64_tiny"));
  tiny.dataset = "rgb64";
  tiny.config = "tiny";
  tiny.steps = 1;
  CHECK_THROWS_WITH(Trainer(tiny, std::make_unique<Rgb64>()),
                    Catch::Contains("config 'tiny' takes 32x32 images, not 64x64; use config 'tiny64'"));
  // And the 32x32 grayscale data set gets a 32x32 grayscale tiny64.
  TrainOptions two = micro_options(fresh_dir("tiny64_at_32"));
  two.config = "tiny64";
  two.steps = 1;
  Trainer s(two, std::make_unique<TwoImages>());
  CHECK(s.model().config().image_size == 32);
  CHECK(s.model().config().image_channels == 1);
}
