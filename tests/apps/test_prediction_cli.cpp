// `tinydiff train --prediction` and `--loss-weight` end to end: the choice reaches the checkpoint,
// `tinydiff info` shows it, `tinydiff sample` draws finite images with it, and `--resume` refuses
// another prediction type.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "diffusion/data/image_io.h"
#include "diffusion/models/trained_model.h"
#include "tensor/elementwise.h"
#include "tests/apps/cli_process.h"

using namespace tinydiff;
using namespace tinydiff::test_cli;
namespace fs = std::filesystem;

namespace {

struct PredictionCase {
  std::string name;                // the run's folder
  std::vector<std::string> flags;  // given to `tinydiff train`
  Prediction prediction;           // stored in the checkpoint
  std::string info_predicts;       // in `tinydiff info`
  std::string info_loss_weight;    // in `tinydiff info`
};

}  // namespace

TEST_CASE("tinydiff train --prediction v and --loss-weight min-snr reach the checkpoint, info and sample",
          "[cli][slow]") {
  const fs::path dir = fresh_dir("prediction");
  const std::vector<PredictionCase> cases = {
      {"v", {"--prediction", "v"}, Prediction::V, "predicts v", "loss weight none"},
      {"min_snr",
       {"--loss-weight", "min-snr"},
       Prediction::Epsilon,
       "predicts epsilon",
       "loss weight min-snr (gamma 5)"},
  };
  for (const PredictionCase& c : cases) {
    INFO(c.name);
    const fs::path run = dir / c.name;
    Ended r = run_tinydiff(train_args(run, 3, 1, c.flags), dir, c.name);
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK(fs::exists(run / "samples" / "step_000003.png"));  // the trainer's grid, with the model's prediction
    const std::string ckpt = (run / "checkpoint.safetensors").string();
    CHECK(load_trained_model(ckpt).model->prediction() == c.prediction);

    r = run_tinydiff({"info", "--checkpoint", ckpt}, dir, c.name + "_info");
    CHECK(r.code == 0);
    CHECK(r.out.find(c.info_predicts) != std::string::npos);
    CHECK(r.out.find(c.info_loss_weight) != std::string::npos);

    const fs::path images = run / "images";
    r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "a large red circle in the center", "--count", "2",
                      "--steps", "4", "--out", images.string()},
                     dir, c.name + "_sample");
    INFO("sample stderr: " << r.err);
    CHECK(r.code == 0);
    for (const char* f : {"000.png", "001.png", "grid.png"}) {
      INFO(f);
      REQUIRE(fs::exists(images / f));
      const Tensor png = load_png((images / f).string());  // (C, H, W) in [-1, 1]
      CHECK(all_finite(png));
    }
  }

  // --resume keeps the stored prediction, and refuses another one before touching the run.
  Ended r = run_tinydiff(train_args(dir / "v", 5, 1, {"--resume", "--prediction", "eps"}), dir, "resume_eps");
  CHECK(r.code == 1);
  CHECK(r.err.find("--prediction 'v', not 'eps'") != std::string::npos);
  CHECK(r.err.find("; hint: ") != std::string::npos);
  r = run_tinydiff(train_args(dir / "v", 5, 1, {"--resume"}), dir, "resume_v");
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  const TrainedModel m = load_trained_model((dir / "v" / "checkpoint.safetensors").string());
  CHECK(m.model->prediction() == Prediction::V);
  CHECK(m.step == 5);

  // A bad value names the flag.
  r = run_tinydiff(train_args(dir / "bad", 3, 1, {"--prediction", "w"}), dir, "bad_prediction");
  CHECK(r.code == 1);
  CHECK(r.err.find("unknown --prediction 'w'; choose one of: eps, x0, v") != std::string::npos);
  r = run_tinydiff(train_args(dir / "bad", 3, 1, {"--loss-weight", "snr"}), dir, "bad_weight");
  CHECK(r.code == 1);
  CHECK(r.err.find("unknown --loss-weight 'snr'; choose one of: none, min-snr") != std::string::npos);
}
