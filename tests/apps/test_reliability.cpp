// Reliability of `tinydiff train` as a process (build/tinydiff run as a child): kill -9 at
// random moments never leaves an unloadable checkpoint and the run resumes to the same bits as
// an uninterrupted one; N steps equal N/2 + --resume + N/2 bit for bit; the same seed and thread
// count give the same bits and 1 vs 2 threads agree closely; SIGTERM finishes the step, saves
// and exits 130; a diverging run stops with exit 3 and a finite checkpoint.
// (tests/apps/test_cli.cpp covers the basic flows and SIGINT; test_bad_input.cpp bad input.)
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

#include "diffusion/models/trained_model.h"
#include "nn/safetensors.h"
#include "tests/apps/cli_process.h"

using namespace tinydiff;
using namespace tinydiff::test_cli;
namespace fs = std::filesystem;

namespace {

// A log line without its timing fields, which differ from run to run.
std::string without_timing(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line);
  j.erase("steps_per_s");
  j.erase("elapsed");
  return j.dump();
}
std::vector<std::string> log_lines(const fs::path& run) {
  std::vector<std::string> out;
  std::istringstream in(read_file(run / "log.jsonl"));
  for (std::string line; std::getline(in, line);) out.push_back(without_timing(line));
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const size_t bytes = static_cast<size_t>(a.numel() * dtype_size(a.dtype()));
  return bytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0;
}

// Two runs' checkpoints hold the same tensors bit for bit and the same metadata (but the
// wall-clock time), and their logs agree but for timing.
void require_identical_runs(const fs::path& a, const fs::path& b) {
  INFO("runs " << a.filename() << " and " << b.filename());
  const SafetensorsData ca = load_safetensors((a / "checkpoint.safetensors").string());
  const SafetensorsData cb = load_safetensors((b / "checkpoint.safetensors").string());
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    INFO(ca.tensors[i].first);
    REQUIRE(ca.tensors[i].first == cb.tensors[i].first);
    CHECK(same_bits(ca.tensors[i].second, cb.tensors[i].second));
  }
  for (const auto& [key, value] : ca.metadata) {
    if (key == "elapsed_seconds") continue;
    INFO("metadata " << key);
    REQUIRE(cb.metadata.count(key) == 1);
    CHECK(cb.metadata.at(key) == value);
  }
  CHECK(ca.metadata.size() == cb.metadata.size());
  CHECK(log_lines(a) == log_lines(b));
}

// Files in `dir` whose names start with ".checkpoint.safetensors.tmp" (left by a killed write).
std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;  // killed before it made its folder
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".checkpoint.safetensors.tmp", 0) == 0)
      out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Crash safety and exact resume

TEST_CASE("kill -9 at random moments: the last checkpoint always loads, and resuming reaches the same bits",
          "[cli][reliability][crash]") {
  constexpr int64_t kSteps = 16;
  const fs::path dir = fresh_dir("kill");
  const fs::path reference = dir / "reference", crashed = dir / "crashed";
  {
    const Ended r = run_tinydiff(train_args(reference, kSteps, 2, {"--checkpoint-every", "1"}), dir, "reference");
    INFO(r.err);
    REQUIRE(r.code == 0);
  }

  // Moments: during start-up (no step yet), then after 1-2 further logged steps plus 0-25 ms
  // (a micro step with its checkpoint takes about 20 ms), so anywhere in a step, including the
  // checkpoint write of every step. Where each kill landed is tallied below.
  std::mt19937 rng(20261128);
  int64_t last_step = 0;
  int in_startup = 0, in_write = 0, before_save = 0, elsewhere = 0;
  size_t temps = 0;

  // First one kill for certain inside a checkpoint write: the writer holds each finished temporary file 1 s
  // before its rename (a testing hook of nn/atomic_file.cpp), and the kill lands once step 1's checkpoint is in
  // place and step 2's temporary file has appeared. Step 1's checkpoint must load; the temporary file stays.
  {
    Launch launch = tinydiff_launch(train_args(crashed, kSteps, 2, {"--checkpoint-every", "1"}));
    launch.env.push_back("TINYDIFF_TEST_PAUSE_BEFORE_RENAME_MS=1000");
    Child c(launch, dir, "kill_in_write");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    while (!(fs::exists(crashed / "checkpoint.safetensors") && !temp_files(crashed).empty()) && c.running() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    c.signal(SIGKILL);
    const Ended e = c.wait();
    INFO("the kill inside a write: " << e.err);
    REQUIRE_FALSE(e.exited);
    CHECK(e.signal == SIGKILL);
    temps = temp_files(crashed).size();
    CHECK(temps == 1);  // killed between writing the temporary file and renaming it
    TrainedModel m;
    REQUIRE_NOTHROW(m = load_trained_model((crashed / "checkpoint.safetensors").string()));
    CHECK(m.step == 1);
    last_step = m.step;
    ++in_write;
  }
  for (int kill = 0; kill < 8; ++kill) {
    const bool resume = fs::exists(crashed / "checkpoint.safetensors");
    std::vector<std::string> extra = {"--checkpoint-every", "1"};
    if (resume) extra.push_back("--resume");
    if (!resume) fs::remove_all(crashed);  // killed before its first checkpoint: start afresh
    Child c(train_args(crashed, kSteps, 2, extra), dir, fmt::format("kill{}", kill));
    const int logged = count_lines(read_file(crashed / "log.jsonl"));
    const int wait_steps = kill == 0 ? 0 : 1 + static_cast<int>(rng() % 2);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    while (count_lines(read_file(crashed / "log.jsonl")) < logged + wait_steps && c.running() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 26));
    c.signal(SIGKILL);
    const Ended e = c.wait();
    INFO("kill " << kill << " after " << wait_steps << " more steps: " << e.err);
    if (e.exited) {  // finished before the kill landed
      REQUIRE(e.code == 0);
      break;
    }
    CHECK(e.signal == SIGKILL);
    const size_t t = temp_files(crashed).size();
    const int now_logged = count_lines(read_file(crashed / "log.jsonl"));
    if (!fs::exists(crashed / "checkpoint.safetensors")) {
      ++in_startup;
      continue;
    }
    // The checkpoint is complete: it loads, and its step never goes back.
    TrainedModel m;
    REQUIRE_NOTHROW(m = load_trained_model((crashed / "checkpoint.safetensors").string()));
    CHECK(m.step >= last_step);
    CHECK(m.step <= kSteps);
    CHECK(m.step >= now_logged - 1);  // at most the step in flight is lost
    last_step = m.step;
    if (t > temps)
      ++in_write;  // between creating the temporary file and renaming it
    else if (now_logged > m.step)
      ++before_save;  // after logging a step, before its checkpoint was in place
    else
      ++elsewhere;
    temps = t;
  }
  CHECK(in_write >= 1);
  WARN("kills: " << in_startup << " before the first checkpoint, " << in_write << " inside a checkpoint write, "
                 << before_save << " between logging and saving, " << elsewhere << " elsewhere in a step");

  // Resume to the end: the same bits as the uninterrupted reference, steps logged once each.
  const Ended r = run_tinydiff(train_args(crashed, kSteps, 2, {"--checkpoint-every", "1", "--resume"}), dir, "final");
  INFO(r.err);
  REQUIRE(r.code == 0);
  require_identical_runs(reference, crashed);
  // A write killed midway leaves its temporary file behind, never a torn checkpoint.
  CHECK(temp_files(crashed).size() == temps);
}

TEST_CASE("N steps equal N/2 + --resume + N/2 bit for bit at 2 threads, same seed and threads, same bits",
          "[cli][reliability][resume][slow]") {
  constexpr int64_t kSteps = 8;
  const fs::path dir = fresh_dir("resume");
  const fs::path one = dir / "one", again = dir / "again", halves = dir / "halves";
  for (const fs::path& run : {one, again}) {
    const Ended r = run_tinydiff(train_args(run, kSteps, 2), dir, run.filename().string());
    INFO(r.err);
    REQUIRE(r.code == 0);
  }
  require_identical_runs(one, again);  // determinism: same seed, same thread count

  Ended r = run_tinydiff(train_args(halves, kSteps, 2, {"--stop-after", std::to_string(kSteps / 2)}), dir, "half1");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(count_lines(read_file(halves / "log.jsonl")) == kSteps / 2);
  r = run_tinydiff(
      {"train", "--out", halves.string(), "--resume", "--threads", "2", "--progress", "none", "--sample-every", "0"},
      dir, "half2");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());  // nothing changed, so no warning
  require_identical_runs(one, halves);
}

TEST_CASE("1 and 2 threads agree within float32 reduction-order tolerance", "[cli][reliability][threads]") {
  constexpr int64_t kSteps = 4;
  const fs::path dir = fresh_dir("threads");
  for (int threads : {1, 2}) {
    const Ended r =
        run_tinydiff(train_args(dir / fmt::format("t{}", threads), kSteps, threads), dir, fmt::format("t{}", threads));
    INFO(r.err);
    REQUIRE(r.code == 0);
  }
  const SafetensorsData a = load_safetensors((dir / "t1" / "checkpoint.safetensors").string());
  const SafetensorsData b = load_safetensors((dir / "t2" / "checkpoint.safetensors").string());
  REQUIRE(a.tensors.size() == b.tensors.size());
  // The thread count changes only the order of float32 sums (GEMM blocking, reductions), about
  // 1e-7 relative per operation. AdamW moves each weight by about lr * m / (sqrt(v) + eps), at most
  // ~lr = 1e-3 a step, so rounding differences reach the weights scaled by lr. Bound: every model
  // and EMA weight within 1e-4 (0.1 lr) after 4 steps, losses within 1e-4 relative. Measured:
  // about 1.2e-5 (printed below).
  double worst = 0.0;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [name, ta] = a.tensors[i];
    const Tensor& tb = b.tensors[i].second;
    REQUIRE(name == b.tensors[i].first);
    if (name.rfind("optim.", 0) == 0 || ta.dtype() == DType::I64) continue;  // moments: ratios, not weights
    const double d = max_abs_diff(ta.to(DType::F64), tb.to(DType::F64));
    INFO(name);
    CHECK(d <= 1e-4);
    worst = std::max(worst, d);
  }
  const auto la = log_lines(dir / "t1"), lb = log_lines(dir / "t2");
  REQUIRE(la.size() == static_cast<size_t>(kSteps));
  REQUIRE(lb.size() == static_cast<size_t>(kSteps));
  for (size_t i = 0; i < la.size(); ++i) {
    const double loss_a = nlohmann::json::parse(la[i]).at("loss").get<double>();
    const double loss_b = nlohmann::json::parse(lb[i]).at("loss").get<double>();
    CHECK(std::abs(loss_a - loss_b) <= 1e-4 * std::abs(loss_a));
  }
  WARN("1 vs 2 threads: largest weight difference " << worst);
}

TEST_CASE("SIGTERM at random moments: the step in flight is finished and saved, exit 130, resume continues",
          "[cli][reliability][signal]") {
  const fs::path dir = fresh_dir("sigterm");
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3; ++trial) {
    const fs::path run = dir / fmt::format("run{}", trial);
    Child c(train_args(run, 100000, 1, {"--checkpoint-every", "0"}), dir, fmt::format("term{}", trial));
    // Trial 0: as soon as the first step is logged; then after 1-3 steps plus 0-40 ms.
    const int wait_steps = 1 + (trial == 0 ? 0 : static_cast<int>(rng() % 3));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    while (count_lines(read_file(run / "log.jsonl")) < wait_steps && c.running() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (trial > 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    c.signal(SIGTERM);
    const Ended e = c.wait();
    INFO("trial " << trial << ": " << e.out << e.err);
    REQUIRE(e.exited);
    CHECK(e.code == 130);
    CHECK(e.err.find("interrupted at step") != std::string::npos);
    const int logged = count_lines(read_file(run / "log.jsonl"));
    const TrainedModel m = load_trained_model((run / "checkpoint.safetensors").string());
    CHECK(m.step == logged);  // finished, logged and saved the step in flight
    CHECK(m.step >= wait_steps);
  }
  const fs::path run = dir / "run0";
  const int logged = count_lines(read_file(run / "log.jsonl"));
  const Ended r = run_tinydiff({"train", "--out", run.string(), "--resume", "--steps", std::to_string(logged + 1),
                                "--progress", "none", "--threads", "1"},
                               dir, "resume");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(load_trained_model((run / "checkpoint.safetensors").string()).step == logged + 1);
}

TEST_CASE("a diverging run (huge learning rate) stops with exit 3 naming the step, and its checkpoint stays finite",
          "[cli][reliability][nonfinite]") {
  const fs::path dir = fresh_dir("diverge");
  const fs::path run = dir / "run";
  const Ended r = run_tinydiff(train_args(run, 50, 1,
                                          {"--lr", "1e30", "--warmup", "0", "--grad-clip", "0", "--max-nonfinite", "2",
                                           "--checkpoint-every", "1"}),
                               dir);
  INFO(r.out << r.err);
  CHECK(r.exited);
  CHECK(r.code == 3);
  CHECK(r.err.find("non-finite") != std::string::npos);
  CHECK(r.err.find("step") != std::string::npos);
  if (fs::exists(run / "checkpoint.safetensors")) {
    const SafetensorsData d = load_safetensors((run / "checkpoint.safetensors").string());
    for (const auto& [name, t] : d.tensors) {
      if (t.dtype() == DType::I64) continue;
      INFO(name);
      CHECK(all_finite(t));
    }
  }
}
