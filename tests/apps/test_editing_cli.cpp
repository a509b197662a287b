// The editing options of `tinydiff sample` (--negative-prompt, --init-image/--strength, --mask/--resample,
// --init-noise) and `tinydiff invert`, run as child processes on a micro checkpoint trained for 2 steps: strength 0
// writes the init image back, inpainting keeps the black pixels, invert + sample --init-noise redraws the
// reconstruction exactly, and bad files and values end in one line naming the file and what was expected.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "diffusion/data/image_io.h"
#include "diffusion/models/trained_model.h"
#include "nn/safetensors.h"
#include "tensor/elementwise.h"
#include "tests/apps/cli_process.h"

using namespace tinydiff;
using namespace tinydiff::test_cli;
namespace fs = std::filesystem;

namespace {

// The expected failure: exit `code`, one line "tinydiff: error: ...; hint: ..." containing `words`.
void check_failure(const Ended& r, int code, const std::string& words) {
  INFO("exit " << r.code << ", stderr: " << r.err);
  CHECK(r.exited);
  CHECK(r.code == code);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.rfind("tinydiff: error: ", 0) == 0);
  CHECK(r.err.find("; hint: ") != std::string::npos);
  CHECK(r.err.find(words) != std::string::npos);
}

const std::string kPrompt = "a large red circle in the center";

// A micro checkpoint trained for 2 steps, made once per process (each SECTION reruns the test case).
const std::string& micro_checkpoint() {
  static const std::string path = [] {
    const fs::path dir = fresh_dir("editing_micro");
    const Ended r = run_tinydiff(train_args(dir / "run", 2, 1), dir, "train");
    INFO("train stderr: " << r.err);
    REQUIRE(r.code == 0);
    return (dir / "run" / "checkpoint.safetensors").string();
  }();
  return path;
}

}  // namespace

TEST_CASE("tinydiff sample edits images and tinydiff invert round-trips them", "[cli][editing]") {
  const std::string ckpt = micro_checkpoint();
  const fs::path dir = fresh_dir("editing");
  Ended r;
  const TrainedModel m = load_trained_model(ckpt);
  const int64_t C = m.config.image_channels, S = m.config.image_size;

  // An init image of the model's size: a smooth pattern in [-1, 1].
  std::vector<double> pixels(static_cast<size_t>(C * S * S));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < S; ++y)
      for (int64_t x = 0; x < S; ++x)
        pixels[static_cast<size_t>((c * S + y) * S + x)] = std::sin(0.3 * x + c) * std::cos(0.2 * y);
  const std::string init = (dir / "init.png").string();
  save_png(init, Tensor::from_vector(pixels, {C, S, S}));
  const Tensor init_back = load_png(init);  // byte-quantised, (C, S, S)
  // A mask: the left half white (generate), the right half black (keep).
  std::vector<double> mask(static_cast<size_t>(S * S), -1.0);
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S / 2; ++x) mask[static_cast<size_t>(y * S + x)] = 1.0;
  const std::string mask_png = (dir / "mask.png").string();
  save_png(mask_png, Tensor::from_vector(mask, {1, S, S}));
  const std::vector<std::string> base = {"sample", "--checkpoint", ckpt, "--prompt", kPrompt, "--steps", "4"};
  auto sample_args = [&](const std::string& out, const std::vector<std::string>& extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), {"--out", (dir / out).string()});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };

  SECTION("--help lists the editing options in their own group") {
    r = run_tinydiff({"sample", "--help"}, dir, "help");
    CHECK(r.code == 0);
    for (const char* word : {"Editing", "--negative-prompt", "--init-image", "--strength", "--mask", "--resample",
                             "--init-noise", "--guidance", "--eta", "--sampler"})
      CHECK(r.out.find(word) != std::string::npos);
    r = run_tinydiff({"invert", "--help"}, dir, "invert_help");
    CHECK(r.code == 0);
    CHECK(r.out.find("exact only as the steps grow") != std::string::npos);
  }

  SECTION("negative prompt") {
    r = run_tinydiff(sample_args("plain", {"--count", "1"}), dir, "plain");
    REQUIRE(r.code == 0);
    r = run_tinydiff(sample_args("neg", {"--count", "1", "-n", "a small blue square"}), dir, "neg");
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("negative prompt \"a small blue square\"") != std::string::npos);
    CHECK(max_abs_diff(load_png((dir / "plain" / "000.png").string()), load_png((dir / "neg" / "000.png").string())) >
          0.0);
  }

  SECTION("strength 0 writes the init image back, strength 0.5 changes it") {
    r = run_tinydiff(sample_args("s0", {"--count", "2", "--init-image", init, "--strength", "0"}), dir, "s0");
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK(max_abs_diff(load_png((dir / "s0" / "001.png").string()), init_back) == 0.0);
    r = run_tinydiff(sample_args("s5", {"--count", "1", "--init-image", init, "--strength", "0.5"}), dir, "s5");
    REQUIRE(r.code == 0);
    CHECK(max_abs_diff(load_png((dir / "s5" / "000.png").string()), init_back) > 0.0);
  }

  SECTION("inpainting keeps the black pixels") {
    r = run_tinydiff(sample_args("inpaint", {"--count", "2", "--init-image", init, "--mask", mask_png, "--resample",
                                             "2", "--sampler", "ddim"}),
                     dir, "inpaint");
    INFO("stderr: " << r.err);
    REQUIRE(r.code == 0);
    const Tensor out = load_png((dir / "inpaint" / "001.png").string());  // (C, S, S)
    CHECK(max_abs_diff(out.slice(2, S / 2, S), init_back.slice(2, S / 2, S)) == 0.0);
    CHECK(max_abs_diff(out.slice(2, 0, S / 2), init_back.slice(2, 0, S / 2)) > 0.0);
  }

  SECTION("invert, then sample --init-noise redraws the reconstruction") {
    r = run_tinydiff({"invert", "--checkpoint", ckpt, "--image", init, "--prompt", kPrompt, "--out",
                      (dir / "inv").string(), "--steps", "8"},
                     dir, "invert");
    INFO("stderr: " << r.err << "\nstdout: " << r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("RMSE") != std::string::npos);
    CHECK(r.out.find("PSNR") != std::string::npos);
    const SafetensorsData noise = load_safetensors((dir / "inv" / "noise.safetensors").string());
    CHECK(noise.at("x_T").shape() == Shape{1, C, S, S});
    REQUIRE(fs::exists(dir / "inv" / "reconstruction.png"));
    r = run_tinydiff(
        {"sample", "--checkpoint", ckpt, "--prompt", kPrompt, "--steps", "8", "--guidance", "1", "--count", "1",
         "--init-noise", (dir / "inv" / "noise.safetensors").string(), "--out", (dir / "from_noise").string()},
        dir, "from_noise");
    INFO("sample stderr: " << r.err);
    REQUIRE(r.code == 0);
    CHECK(max_abs_diff(load_png((dir / "from_noise" / "000.png").string()),
                       load_png((dir / "inv" / "reconstruction.png").string())) == 0.0);
  }

  SECTION("bad editing input: one line naming the file and what was expected") {
    // Wrong size, wrong channel count, not a PNG, a grey mask pixel, a mask of another size, wrong noise shape.
    const std::string small = (dir / "small.png").string();
    save_png(small, Tensor::zeros({C, S / 2, S / 2}));
    const std::string other_channels = (dir / "other_channels.png").string();
    save_png(other_channels, Tensor::zeros({C == 1 ? 3 : 1, S, S}));
    const std::string text = (dir / "notes.png").string();
    std::ofstream(text) << "not a picture\n";
    std::vector<double> grey = mask;
    grey[5] = 0.0;  // byte 128
    const std::string grey_mask = (dir / "grey_mask.png").string();
    save_png(grey_mask, Tensor::from_vector(grey, {1, S, S}));
    const std::string noise_file = (dir / "bad_noise.safetensors").string();
    save_safetensors(noise_file, {{"x_T", Tensor::zeros({1, C, S / 2, S / 2})}});
    const std::string expected_size = fmt::format("the model expects a {}x{}", S, S);
    struct Case {
      std::vector<std::string> args;
      int code;
      std::string words;
    };
    const std::vector<Case> cases = {
        {sample_args("o", {"--init-image", small}), 2, expected_size},
        {sample_args("o", {"--init-image", other_channels}), 2, expected_size},
        {sample_args("o", {"--init-image", text}), 2, "notes.png"},
        {sample_args("o", {"--init-image", init, "--mask", grey_mask}), 2, "is not binary: pixel (x 5, y 0) is 128"},
        {sample_args("o", {"--init-image", init, "--mask", small}), 2, "small.png"},
        {sample_args("o", {"--init-image", init, "--strength", "1.5"}), 1, "--strength must be in [0, 1], got 1.5"},
        {sample_args("o", {"--init-image", init, "--strength", "-0.1"}), 1, "--strength must be in [0, 1]"},
        {sample_args("o", {"--mask", mask_png}), 1, "--mask needs --init-image"},
        {sample_args("o", {"--init-noise", noise_file}), 2,
         fmt::format("the model expects (1 or 8, {}, {}, {})", C, S, S)},
        {{"invert", "--checkpoint", ckpt, "--image", small, "--prompt", "x", "--out", (dir / "o").string()},
         2,
         expected_size},
    };
    int n = 0;
    for (const Case& c : cases) {
      std::string line;
      for (const auto& a : c.args) line += a + " ";
      INFO("tinydiff " << line);
      check_failure(run_tinydiff(c.args, dir, fmt::format("bad{}", n++)), c.code, c.words);
      CHECK(!fs::exists(dir / "o"));
    }
  }
}
