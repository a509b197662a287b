// Bad input to every `tinydiff` subcommand, run as a child process: unknown flags, missing
// values, out-of-range numbers (exit 1); missing, damaged or mismatched checkpoints, folders
// that cannot be written (exit 2); random byte changes to a checkpoint. Always one line on
// stderr, no crash, nothing left behind. (tests/apps/test_cli.cpp covers more cases.)
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "nn/safetensors.h"
#include "tests/apps/cli_process.h"

using namespace tinydiff;
using namespace tinydiff::test_cli;
namespace fs = std::filesystem;

namespace {

// Every name under `dir`, recursively (to check that failed commands leave nothing behind).
std::set<std::string> tree(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

// The expected failure: exit `code`, no signal, one line "tinydiff: error: ...; hint: ..."
// containing `words`.
void check_failure(const Ended& r, int code, const std::string& words) {
  INFO("exit " << r.code << ", signal " << r.signal << ", stderr: " << r.err);
  CHECK(r.exited);
  CHECK(r.code == code);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.rfind("tinydiff: error: ", 0) == 0);
  CHECK(r.err.find("; hint: ") != std::string::npos);
  CHECK(r.err.find(words) != std::string::npos);
}

// A micro checkpoint trained for 2 steps, made once per process.
const fs::path& micro_checkpoint() {
  static const fs::path path = [] {
    const fs::path dir = fresh_dir("micro");
    const Ended r = run_tinydiff(train_args(dir / "run", 2, 1), dir);
    INFO(r.err);
    REQUIRE(r.code == 0);
    return dir / "run" / "checkpoint.safetensors";
  }();
  return path;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Bad input to every subcommand

TEST_CASE("bad command lines for every subcommand: exit 1, one line, nothing written", "[cli][reliability][usage]") {
  const fs::path dir = fresh_dir("usage");
  const std::string ckpt = micro_checkpoint().string();
  struct Case {
    std::vector<std::string> args;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "unknown option '--bogus'"},
      // train: unknown flags, missing values, values out of range or of the wrong type.
      {{"train", "--out", "o", "--steps", "3", "--colour", "red"}, "--colour"},
      {{"train", "--out", "o", "--steps", "3", "--batch"}, "--batch"},
      {{"train", "--out", "o", "--batch", "--steps", "3"}, "--batch"},
      {{"train", "--out", "o", "--steps", "3.5"}, "--steps"},
      {{"train", "--out", "o", "--steps", "99999999999999999999"}, "--steps"},  // beyond int64
      {{"train", "--out", "o", "--steps", "3", "--seed", "-1"}, "--seed"},
      {{"train", "--out", "o", "--steps", "3", "--threads", "-1"}, "--threads"},
      {{"train", "--out", "o", "--steps", "3", "--lr", "nan"}, "lr"},
      {{"train", "--out", "o", "--steps", "3", "--lr", "inf"}, "lr"},
      {{"train", "--out", "o", "--minutes", "-2"}, "--minutes"},
      {{"train", "--out", "o", "--minutes", "nan"}, "--minutes"},
      {{"train", "--out", "o", "--steps", "3", "--ema", "1.5"}, "ema"},
      {{"train", "--out", "o", "--steps", "3", "--caption-dropout", "2"}, "caption_dropout"},
      {{"train", "--out", "o", "--steps", "3", "--grad-clip", "-1"}, "grad_clip"},
      {{"train", "--out", "o", "--steps", "3", "--warmup", "-1"}, "warmup"},
      {{"train", "--out", "o", "--steps", "3", "--checkpoint-every", "-1"}, "checkpoint_every"},
      {{"train", "--out", "o", "--steps", "3", "--max-nonfinite", "0"}, "max_nonfinite"},
      {{"train", "--out", "o", "--steps", "3", "--lr-decay", "sometimes"}, "sometimes"},
      {{"train", "--out", "o", "--steps", "3", "--progress", "loud"}, "unknown --progress 'loud'"},
      {{"train", "--out", "", "--steps", "3"}, "out_dir is empty"},
      // sample
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--colour", "red"}, "--colour"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--count"}, "--count"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--count", "ten"}, "--count"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--count", "-3"}, "--count"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--batch", "0"}, "--batch"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--threads", "-2"}, "--threads"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--guidance", "nan"}, "--guidance"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--eta", "-0.5"}, "--eta"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag"}, "--out"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "o", "--seed", "-2"}, "--seed"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "-o", "bag.jpg"}, "does not end in .png"},
      {{"sample", "--checkpoint", ckpt, "--prompt", "a bag", "-o", "bag.png", "--out", "o"}, "both given"},
      // info
      {{"info", "--checkpoint", ckpt, "--verbose"}, "--verbose"},
      {{"info", "--checkpoint"}, "--checkpoint"},
      // eval
      {{"eval", "--checkpoint", ckpt, "--colour", "red"}, "--colour"},
      {{"eval", "--checkpoint", ckpt, "--samples", "0"}, "--samples"},
      {{"eval", "--checkpoint", ckpt, "--steps", "-1"}, "--steps"},
      {{"eval", "--checkpoint", ckpt, "--guidance", "1,x"}, "guidance"},
      {{"eval"}, "--checkpoint"},
      // train-classifier
      {{"train-classifier", "--epochs", "0", "--out", "o/c.safetensors"}, "--epochs"},
      {{"train-classifier", "--batch", "-1", "--out", "o/c.safetensors"}, "--batch"},
      {{"train-classifier", "--colour", "red"}, "--colour"},
  };
  const auto before = tree(dir);
  int n = 0;
  for (const Case& c : cases) {
    std::string line;
    for (const auto& a : c.args) line += a + " ";
    INFO("tinydiff " << line);
    check_failure(run_tinydiff(c.args, dir, fmt::format("u{}", n++)), 1, c.words);
    // Nothing left behind but the captured stdout/stderr.
    for (const auto& name : tree(dir))
      if (!before.count(name) && name.find(".std") == std::string::npos) FAIL("left behind: " << name);
  }
}

TEST_CASE("bad files and folders for every subcommand: exit 2, one line, nothing written",
          "[cli][reliability][files]") {
  const fs::path dir = fresh_dir("files");
  const fs::path ckpt = micro_checkpoint();
  const std::string bytes = read_file(ckpt);
  const SafetensorsData good = load_safetensors(ckpt.string());
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir / name, std::ios::binary) << content;
    return (dir / name).string();
  };
  auto with_metadata = [&](const std::string& key, const std::string& value) {
    auto meta = good.metadata;
    meta[key] = value;
    return serialize_safetensors(good.tensors, meta);
  };
  const std::string empty = write("empty.safetensors", "");
  const std::string truncated = write("truncated.safetensors", bytes.substr(0, bytes.size() - 100));
  const std::string bad_config = write("bad_config.safetensors", with_metadata("config", "{\"name\": 3}"));
  NamedTensors wrong = good.tensors;
  for (auto& [name, t] : wrong)
    if (name.rfind("ema.", 0) == 0 && t.dim() == 2) {  // a tensor of another shape, as from another config
      t = Tensor::zeros({t.shape()[0] + 1, t.shape()[1]});
      break;
    }
  const std::string other_shapes = write("other_shapes.safetensors", serialize_safetensors(wrong, good.metadata));
  fs::create_directories(dir / "folder.safetensors");
  const std::string folder = (dir / "folder.safetensors").string();
  write("a_file", "x");

  struct Case {
    std::vector<std::string> args;
    std::string words;
  };
  std::vector<Case> cases;
  for (const std::string& f : {empty, truncated, bad_config, other_shapes, folder}) {
    cases.push_back({{"info", "--checkpoint", f}, "checkpoint"});
    cases.push_back({{"sample", "--checkpoint", f, "--prompt", "a bag", "--out", "o"}, "checkpoint"});
    cases.push_back({{"eval", "--checkpoint", f, "--samples", "1", "--out", "o/eval.json"}, "checkpoint"});
  }
  cases.push_back({{"train", "--out", "/proc/tinydiff/run", "--steps", "3", "--dataset", "shapes"}, "cannot"});
  cases.push_back({{"train", "--out", "a_file/run", "--steps", "3", "--dataset", "shapes"}, "a_file"});
  cases.push_back({{"sample", "--checkpoint", ckpt.string(), "--prompt", "a bag", "--out", "/proc/tinydiff/o"},
                   "cannot create the folder"});
  cases.push_back(
      {{"train-classifier", "--out", "/proc/tinydiff/c.safetensors", "--data-dir", "/nonexistent"}, "tinydiff"});
  // Resuming a damaged checkpoint: each copy in its own run folder.
  int k = 0;
  for (const std::string& f : {empty, truncated, bad_config, other_shapes}) {
    const fs::path run = dir / fmt::format("resume{}", k++);
    fs::create_directories(run);
    fs::copy_file(f, run / "checkpoint.safetensors");
    cases.push_back(
        {{"train", "--out", run.string(), "--resume", "--stop-after", "1", "--progress", "none"}, "checkpoint"});
  }
  const auto before = tree(dir);
  int n = 0;
  for (const Case& c : cases) {
    std::string line;
    for (const auto& a : c.args) line += a + " ";
    INFO("tinydiff " << line);
    check_failure(run_tinydiff(c.args, dir, fmt::format("f{}", n++)), 2, c.words);
    for (const auto& name : tree(dir))
      if (!before.count(name) && name.find(".std") == std::string::npos) FAIL("left behind: " << name);
  }
}

TEST_CASE("damaged checkpoints (random byte changes) never crash info, sample or resume", "[cli][reliability][files]") {
  const fs::path dir = fresh_dir("mutants");
  const std::string bytes = read_file(micro_checkpoint());
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  std::mt19937_64 rng(42);
  int rejected = 0;
  for (int trial = 0; trial < 24; ++trial) {
    std::string m = bytes;
    // Mostly the length field and the JSON header (where structure lives), sometimes the data.
    const uint64_t span = trial % 4 == 3 ? m.size() : 8 + header;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips)
      m[rng() % span] = static_cast<char>(rng() & 0xFF);
    const fs::path run = dir / fmt::format("m{}", trial);
    fs::create_directories(run);
    std::ofstream(run / "checkpoint.safetensors", std::ios::binary) << m;
    const std::string path = (run / "checkpoint.safetensors").string();
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"info", "--checkpoint", path},
          std::vector<std::string>{"sample", "--checkpoint", path, "--prompt", "a red circle", "--count", "1",
                                   "--steps", "2", "--out", (run / "images").string()},
          std::vector<std::string>{"train", "--out", run.string(), "--resume", "--stop-after", "1", "--progress",
                                   "none", "--threads", "1"}}) {
      const Ended r = run_tinydiff(args, dir, "mutant");
      INFO("trial " << trial << ": tinydiff " << args[0] << ": exit " << r.code << ", signal " << r.signal << ": "
                    << r.err);
      CHECK(r.exited);                      // never killed by a signal (abort, segfault, sanitizer)
      CHECK((r.code == 0 || r.code == 2));  // 2: a bad file (1 would blame the command line)
      if (r.code != 0) {
        ++rejected;
        CHECK(count_lines(r.err) == 1);
        CHECK(r.err.rfind("tinydiff: error: ", 0) == 0);
        if (args[0] == "sample") CHECK_FALSE(fs::exists(run / "images"));
      }
    }
  }
  CHECK(rejected > 0);
}
