// `tinydiff train --validation-prompt / --keep-checkpoints` and `tinydiff eval --nearest` end to end
// (as a child process): the banner, the files, a resume that keeps the prompts, the memorisation
// check's grid and JSON; and their bad values, each one line with exit code 1.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/apps/cli_process.h"

using namespace tinydiff::test_cli;
namespace fs = std::filesystem;

namespace {

void check_usage_error(const Ended& r, const std::string& words) {
  INFO("exit " << r.code << ", stderr: " << r.err);
  CHECK(r.exited);
  CHECK(r.code == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.rfind("tinydiff: error: ", 0) == 0);
  CHECK(r.err.find(words) != std::string::npos);
}

std::vector<std::string> train(const fs::path& out, int64_t steps, const std::vector<std::string>& extra) {
  std::vector<std::string> a = {"train",
                                "--dataset",
                                "shapes",
                                "--config",
                                "micro",
                                "--batch",
                                "4",
                                "--seed",
                                "7",
                                "--warmup",
                                "2",
                                "--sample-every",
                                "0",
                                "--progress",
                                "lines",
                                "--checkpoint-every",
                                "2",
                                "--out",
                                out.string(),
                                "--steps",
                                std::to_string(steps)};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

TEST_CASE("bad values of --keep-checkpoints, --validation-prompt, --config and --nearest: one line, exit 1",
          "[cli][usage]") {
  const fs::path dir = fresh_dir("train-features-usage");
  int n = 0;
  const auto run = [&](const std::vector<std::string>& args) {
    return run_tinydiff(args, dir, fmt::format("u{}", n++));
  };
  check_usage_error(run(train("o", 3, {"--keep-checkpoints", "-1"})),
                    "--keep-checkpoints must not be negative, got -1");
  check_usage_error(run(train("o", 3, {"--keep-checkpoints", "two"})), "--keep-checkpoints");
  check_usage_error(run(train("o", 3, {"--validation-prompt"})), "--validation-prompt");
  check_usage_error(run(train("o", 3, {"--config", "huge"})), "unknown config 'huge'");
  std::vector<std::string> many;
  for (int i = 0; i < 65; ++i) many.insert(many.end(), {"--validation-prompt", "a red circle"});
  check_usage_error(run(train("o", 3, many)), "--validation-prompt takes at most 64 prompts, got 65");
  check_usage_error(run({"eval", "--nearest", "--images", "x"}), "--nearest needs --checkpoint");
  check_usage_error(run({"eval", "--nearest", "--checkpoint", "x.safetensors", "--nearest-captions", "0"}),
                    "--nearest-captions must be 1..64, got 0");
  check_usage_error(run({"eval", "--nearest", "--checkpoint", "x.safetensors", "--guidance", "1,3"}),
                    "--nearest takes one --guidance value");
  CHECK_FALSE(fs::exists(dir / "o"));  // nothing written
}

TEST_CASE("train with validation prompts and kept checkpoints, resume, then the memorisation check", "[cli][slow]") {
  const fs::path dir = fresh_dir("train-features");
  const fs::path out = dir / "run";
  const std::vector<std::string> prompts = {"--validation-prompt", "a large red circle in the center",
                                            "--validation-prompt", "a small blue square at the top left"};
  std::vector<std::string> extra = prompts;
  extra.insert(extra.end(), {"--keep-checkpoints", "1", "--threads", "1"});
  const Ended a = run_tinydiff(train(out, 4, extra), dir, "a");
  INFO(a.out << a.err);
  REQUIRE(a.code == 0);
  CHECK(a.out.find("GFLOP per training step") != std::string::npos);
  CHECK(a.out.find("sample grids of 2 validation prompts: \"a large red circle in the center\", \"a small blue square "
                   "at the top left\"") != std::string::npos);
  CHECK(a.out.find("keeping the last 1 step-numbered checkpoint") != std::string::npos);
  CHECK(fs::exists(out / "checkpoint.safetensors"));
  CHECK(fs::exists(out / "checkpoint-00000004.safetensors"));
  CHECK_FALSE(fs::exists(out / "checkpoint-00000002.safetensors"));  // beyond --keep-checkpoints 1

  // Resume without the flags: the prompts come from the checkpoint.
  const Ended b = run_tinydiff(
      {"train", "--out", out.string(), "--resume", "--steps", "6", "--progress", "lines", "--threads", "1"}, dir, "b");
  INFO(b.out << b.err);
  REQUIRE(b.code == 0);
  CHECK(b.out.find("resuming from step 4") != std::string::npos);
  CHECK(b.out.find("sample grids of 2 validation prompts") != std::string::npos);
  CHECK(b.out.find("--prompt \"a large red circle in the center\"") != std::string::npos);  // the hint uses them too
  CHECK(fs::exists(out / "checkpoint-00000006.safetensors"));
  CHECK_FALSE(fs::exists(out / "checkpoint-00000004.safetensors"));

  const Ended c = run_tinydiff({"eval", "--nearest", "--checkpoint", (out / "checkpoint.safetensors").string(),
                                "--steps", "3", "--nearest-captions", "3", "--threads", "1"},
                               dir, "c");
  INFO(c.out << c.err);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("scale: median distance of a training image to its nearest other") != std::string::npos);
  REQUIRE(fs::exists(out / "nearest.png"));
  const nlohmann::json j = nlohmann::json::parse(read_file(out / "nearest.json"));
  CHECK(j.at("dataset") == "shapes");
  CHECK(j.at("drawn") == true);
  CHECK(j.at("reference_images") == 10000);
  REQUIRE(j.at("rows").size() == 3);
  for (const auto& row : j.at("rows")) {
    REQUIRE(row.at("neighbours").size() == 3);
    CHECK(row.at("neighbours")[0].at("distance").get<double>() <= row.at("neighbours")[2].at("distance").get<double>());
  }
  CHECK(j.at("median_training_distance").get<double>() > 0.0);
}
