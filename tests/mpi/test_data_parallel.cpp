// Data-parallel training (nn/distributed.h, diffusion/training/trainer.h) run as `mpirun -np N tinydiff
// train`: N ranks train like one process on the same global batch, each rank trains on its own
// rows of that batch and the ranks end with identical weights, checkpoints resume on any number
// of ranks, a signal stops every rank at the same step, and set-up errors end every rank.
// Built and registered only with TINYDIFF_MPI=ON. Every run: the micro model on Shapes, seed 7,
// one thread per rank (tests/apps/cli_process.h's train_args).
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <set>

#include "nn/distributed.h"
#include "tests/mpi/mpi_process.h"

using namespace tinydiff;
using namespace tinydiff::test_mpi;
using test_cli::train_args;

namespace {

// Weights (model.*) and EMA (ema.*) of two runs' checkpoints: the largest difference (AdamW's
// moments are left out: they are ratios' ingredients, not weights, and v ~ g^2 is tiny).
double max_weight_diff(const fs::path& a, const fs::path& b) {
  const SafetensorsData ca = load_safetensors((a / "checkpoint.safetensors").string());
  const SafetensorsData cb = load_safetensors((b / "checkpoint.safetensors").string());
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  double worst = 0.0;
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    const auto& [name, ta] = ca.tensors[i];
    REQUIRE(name == cb.tensors[i].first);
    if (name.rfind("optim.", 0) == 0 || ta.dtype() == DType::I64) continue;
    const std::vector<double> va = ta.to_vector(), vb = cb.tensors[i].second.to_vector();
    REQUIRE(va.size() == vb.size());
    for (size_t k = 0; k < va.size(); ++k) {
      const double d = std::fabs(va[k] - vb[k]);
      worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    }
  }
  return worst;
}

// The logged values of `key` ("loss", "grad_norm") of a run, one per step.
std::vector<double> logged(const fs::path& run, const char* key) {
  std::vector<double> out;
  for (const auto& j : json_lines(run / "log.jsonl")) out.push_back(j.at(key).get<double>());
  return out;
}

// The logged losses of a run.
std::vector<double> losses(const fs::path& run) { return logged(run, "loss"); }

// N ranks differ from one process only in the order of float32 sums: each rank's forward and
// backward run on fewer rows (other GEMM blocking; the weight gradients sum over the shard, not
// the batch), and the all-reduce adds the weighted shard gradients (and rounds each to float32
// once more) instead of summing all rows at once: ~1e-7 relative per gradient element. AdamW
// turns a gradient into a step of about lr * m / (sqrt(v) + eps), so the rounding reaches the
// weights scaled by lr = 1e-3, and grows a little from step to step. The bound is the one
// tests/apps/test_reliability.cpp uses for 1 vs 2 threads (also a reduction-order change): every
// model and EMA weight within 1e-4 (0.1 lr) after 6 steps, the loss within 1e-5 relative.
// Measured: printed by WARN below. A wrong weighting of the shards (a plain mean of 3 and 2
// rows) or ranks training on other examples moves weights by ~lr and fails.
constexpr double kWeightTolerance = 1e-4;
constexpr double kLossTolerance = 1e-5;

}  // namespace

TEST_CASE("batch_shard: contiguous shards that tile the batch, sizes differ by at most one", "[mpi]") {
  for (int ranks = 1; ranks <= 5; ++ranks) {
    for (int64_t batch = ranks; batch <= 13; ++batch) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const BatchShard s = batch_shard(batch, r, ranks);
        INFO("batch " << batch << ", rank " << r << " of " << ranks);
        CHECK(s.begin == next);
        CHECK((s.size() == batch / ranks || s.size() == batch / ranks + 1));
        next = s.end;
      }
      CHECK(next == batch);
    }
  }
  CHECK(batch_shard(5, 0, 2).begin == 0);
  CHECK(batch_shard(5, 0, 2).end == 3);
  CHECK(batch_shard(5, 1, 2).begin == 3);
  CHECK(batch_shard(5, 1, 2).end == 5);
  CHECK_THROWS_WITH(batch_shard(1, 0, 2), Catch::Contains("a batch of 1 cannot be split over 2 ranks"));
  CHECK_THROWS_WITH(batch_shard(4, 2, 2), Catch::Contains("rank 2 is not in [0, 2)"));
}

TEST_CASE("without mpirun the distributed functions act as one rank", "[mpi]") {
  // This test process is not started by mpirun: no MPI_Init, one rank.
  CHECK(distributed_built());
  CHECK(world_rank() == 0);
  CHECK(world_size() == 1);
  CHECK(all_reduce_sum(2.5) == 2.5);
  CHECK(all_reduce_sum(std::vector<double>{1.0, -3.0}) == std::vector<double>{1.0, -3.0});
  CHECK(all_reduce_any(true));
  CHECK_FALSE(all_reduce_any(false));
  CHECK(all_ranks_equal(42));

  // all_reduce_gradients with one rank scales by the weight; a parameter without a gradient keeps none.
  Variable a(Tensor::from_vector({1.0, -2.0, 4.0}, {3}), true), b(Tensor::from_vector({5.0}, {1}), true);
  a.set_grad(Tensor::from_vector({0.5, 1.0, -8.0}, {3}));
  const GradientAllReduce r = all_reduce_gradients({a, b}, 0.25);
  CHECK(r.seconds == 0.0);
  CHECK(r.bytes == (3 + 1 + 2) * 4);  // 4 values and one has-gradient slot per parameter, float32
  REQUIRE(a.has_grad());
  CHECK(a.grad().to_vector() == std::vector<double>{0.125, 0.25, -2.0});
  CHECK_FALSE(b.has_grad());

  // Checksums see every bit of the weights.
  const uint64_t before = parameter_checksum({a, b});
  CHECK(parameter_checksum({a, b}) == before);
  b.mutable_value().set({0}, std::nextafter(5.0f, 6.0f));
  CHECK(parameter_checksum({a, b}) != before);
}

TEST_CASE("2 ranks x 1 thread train like 1 rank, with an even and an uneven batch", "[mpi]") {
  constexpr int64_t kSteps = 6;
  for (const int64_t batch : {4, 5}) {
    INFO("batch " << batch);
    const fs::path dir = mpi_dir(fmt::format("parity_b{}", batch));
    const std::vector<std::string> extra = {"--batch", std::to_string(batch)};
    run_ranks(0, train_args(dir / "one", kSteps, 1, extra), dir, "one");
    const Ended two = run_ranks(2, train_args(dir / "two", kSteps, 1, extra), dir, "two");
    // Only rank 0 speaks: one summary line, and the all-reduce report.
    CHECK(test_cli::count_lines(two.out) >= 1);
    CHECK(two.out.find("tinydiff: done") == two.out.rfind("tinydiff: done"));

    const double worst = max_weight_diff(dir / "one", dir / "two");
    CHECK(worst <= kWeightTolerance);
    WARN("batch " << batch << ", 1 rank vs 2 ranks after " << kSteps << " steps: largest weight difference " << worst);
    const std::vector<double> la = losses(dir / "one"), lb = losses(dir / "two");
    REQUIRE(la.size() == static_cast<size_t>(kSteps));
    REQUIRE(lb.size() == static_cast<size_t>(kSteps));
    for (size_t i = 0; i < la.size(); ++i) CHECK(std::fabs(la[i] - lb[i]) <= kLossTolerance * std::fabs(la[i]));
    // The all-reduced gradient itself, through its logged norm (taken before clipping): a gradient mis-scaled
    // alike on every rank (summed instead of averaged over the ranks) moves AdamW's steps and the weights hardly
    // at all, since AdamW divides the scale out, but doubles this norm. Reduction order moves it by ~1e-6.
    const std::vector<double> ga = logged(dir / "one", "grad_norm"), gb = logged(dir / "two", "grad_norm");
    REQUIRE(ga.size() == gb.size());
    for (size_t i = 0; i < ga.size(); ++i) CHECK(std::fabs(ga[i] - gb[i]) <= 1e-4 * std::fabs(ga[i]));
    // The random streams do not depend on the number of ranks: the same states after the run.
    const auto ma = checkpoint_metadata(dir / "one" / "checkpoint.safetensors");
    const auto mb = checkpoint_metadata(dir / "two" / "checkpoint.safetensors");
    for (const char* key : {"step", "rng.data", "rng.noise", "rng.dropout", "train_options"}) {
      INFO(key);
      CHECK(ma.at(key) == mb.at(key));
    }
  }
}

TEST_CASE("mpirun -np 1 trains bit for bit like a process without mpirun", "[mpi]") {
  const fs::path dir = mpi_dir("one_rank");
  run_ranks(0, train_args(dir / "alone", 4, 1), dir, "alone");
  run_ranks(1, train_args(dir / "mpirun", 4, 1), dir, "mpirun");
  const CheckpointDiff d =
      compare_checkpoints(dir / "alone" / "checkpoint.safetensors", dir / "mpirun" / "checkpoint.safetensors");
  CHECK(d.same_names);
  CHECK(d.all_equal);
  CHECK(losses(dir / "alone") == losses(dir / "mpirun"));
}

TEST_CASE("each rank trains on its own rows of the single-rank batch, and the ranks end identical", "[mpi]") {
  // Batch 5 over 2 ranks: rows [0, 3) and [3, 5). --rank-log writes, per rank and step, the rows,
  // their timesteps and a hash of each row's image, noise and caption.
  constexpr int64_t kSteps = 4, kBatch = 5;
  const fs::path dir = mpi_dir("shards");
  const auto args = [&](const std::string& run) {
    return train_args(dir / run, kSteps, 1,
                      {"--batch", std::to_string(kBatch), "--rank-log", (dir / (run + "_ranks")).string()});
  };
  run_ranks(0, args("one"), dir, "one");
  run_ranks(2, args("two"), dir, "two");
  const std::vector<nlohmann::json> single = json_lines(dir / "one_ranks" / "rank0.jsonl");
  const std::vector<nlohmann::json> r0 = json_lines(dir / "two_ranks" / "rank0.jsonl");
  const std::vector<nlohmann::json> r1 = json_lines(dir / "two_ranks" / "rank1.jsonl");
  REQUIRE(single.size() == static_cast<size_t>(kSteps + 1));  // one line per step, then the checksum
  REQUIRE(r0.size() == static_cast<size_t>(kSteps + 1));
  REQUIRE(r1.size() == static_cast<size_t>(kSteps + 1));
  std::set<std::string> all_examples;
  for (size_t i = 0; i < static_cast<size_t>(kSteps); ++i) {
    INFO("step " << i + 1);
    REQUIRE(r0[i].at("step") == i + 1);
    REQUIRE(r1[i].at("step") == i + 1);
    CHECK(r0[i].at("rank") == 0);
    CHECK(r1[i].at("rank") == 1);
    // The shards tile the batch: [0, 3) and [3, 5).
    CHECK(r0[i].at("rows") == nlohmann::json::array({0, 3}));
    CHECK(r1[i].at("rows") == nlohmann::json::array({3, 5}));
    CHECK(single[i].at("rows") == nlohmann::json::array({0, kBatch}));
    // Together they are exactly the single process's batch: the same examples (image, noise,
    // caption) and timesteps, in order; so no row was trained on twice or left out.
    std::vector<std::string> joined = r0[i].at("examples").get<std::vector<std::string>>();
    for (const auto& e : r1[i].at("examples").get<std::vector<std::string>>()) joined.push_back(e);
    CHECK(joined == single[i].at("examples").get<std::vector<std::string>>());
    std::vector<int64_t> t = r0[i].at("t").get<std::vector<int64_t>>();
    for (int64_t v : r1[i].at("t").get<std::vector<int64_t>>()) t.push_back(v);
    CHECK(t == single[i].at("t").get<std::vector<int64_t>>());
    // Disjoint data: no example of rank 0 is also one of rank 1 (nor of any other step).
    for (const auto& e : joined) CHECK(all_examples.insert(e).second);
  }
  // Identical weights on both ranks at the end, bit for bit.
  const nlohmann::json& end0 = r0.back();
  const nlohmann::json& end1 = r1.back();
  CHECK(end0.at("step") == kSteps);
  CHECK(end1.at("step") == kSteps);
  REQUIRE(end0.contains("param_checksum"));
  CHECK(end0.at("param_checksum") == end1.at("param_checksum"));
}

TEST_CASE("a 2-rank checkpoint resumes on 1 rank, and a 1-rank one on 2 ranks", "[mpi]") {
  constexpr int64_t kSteps = 6;
  const fs::path dir = mpi_dir("resume");
  run_ranks(0, train_args(dir / "straight", kSteps, 1), dir, "straight");
  for (const auto& [first, second] : {std::pair{2, 0}, std::pair{0, 2}}) {
    const std::string run = fmt::format("resume_{}_{}", first, second);
    INFO(run << " (0: one process without mpirun)");
    run_ranks(first, train_args(dir / run, kSteps, 1, {"--stop-after", "3"}), dir, run + "_a");
    REQUIRE(checkpoint_metadata(dir / run / "checkpoint.safetensors").at("step") == "3");
    run_ranks(second, train_args(dir / run, kSteps, 1, {"--resume"}), dir, run + "_b");
    const double worst = max_weight_diff(dir / "straight", dir / run);
    CHECK(worst <= kWeightTolerance);
    WARN(run << ": largest weight difference to the uninterrupted 1-rank run " << worst);
    const auto ma = checkpoint_metadata(dir / "straight" / "checkpoint.safetensors");
    const auto mb = checkpoint_metadata(dir / run / "checkpoint.safetensors");
    for (const char* key : {"step", "rng.data", "rng.noise", "rng.dropout"}) {
      INFO(key);
      CHECK(ma.at(key) == mb.at(key));
    }
    CHECK(losses(dir / run).size() == static_cast<size_t>(kSteps));
  }
}

TEST_CASE("SIGUSR1 to mpirun stops every rank at the same step, rank 0 saves it and the exit code is 130", "[mpi]") {
  const fs::path dir = mpi_dir("stop");
  test_cli::Child job(mpi_launch(2, train_args(dir / "run", 100000, 1, {"--rank-log", (dir / "ranks").string()})), dir,
                      "job");
  // Wait for a few steps in the log, then ask mpirun to stop (it forwards SIGUSR1 to both ranks).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (json_lines(dir / "ranks" / "rank1.jsonl").size() < 3) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  job.signal(SIGUSR1);
  const Ended e = job.wait(120);
  INFO("stdout:\n" << e.out << "\nstderr:\n" << e.err);
  REQUIRE(e.exited);
  CHECK(e.code == 130);
  CHECK(e.err.find("interrupted at step") != std::string::npos);
  const nlohmann::json end0 = json_lines(dir / "ranks" / "rank0.jsonl").back();
  const nlohmann::json end1 = json_lines(dir / "ranks" / "rank1.jsonl").back();
  REQUIRE(end0.contains("param_checksum"));
  CHECK(end0.at("step") == end1.at("step"));
  CHECK(end0.at("param_checksum") == end1.at("param_checksum"));
  const auto meta = checkpoint_metadata(dir / "run" / "checkpoint.safetensors");
  CHECK(meta.at("step") == std::to_string(end0.at("step").get<int64_t>()));
}

TEST_CASE("a batch smaller than the number of ranks is refused on every rank, with a clear message", "[mpi]") {
  const fs::path dir = mpi_dir("small_batch");
  test_cli::Child job(mpi_launch(2, train_args(dir / "run", 3, 1, {"--batch", "1"})), dir, "job");
  const Ended e = job.wait(120);
  INFO("stdout:\n" << e.out << "\nstderr:\n" << e.err);
  REQUIRE(e.exited);
  CHECK(e.code == 1);
  CHECK(e.err.find("batch 1 is smaller than the number of ranks (2)") != std::string::npos);
  // Said once (rank 0), not once per rank.
  CHECK(e.err.find("smaller than the number") == e.err.rfind("smaller than the number"));
  CHECK_FALSE(fs::exists(dir / "run"));  // the failed start leaves no folder behind
}

TEST_CASE("non-finite steps are skipped by every rank alike and a diverging 2-rank run stops with exit 3", "[mpi]") {
  const fs::path dir = mpi_dir("diverge");
  test_cli::Child job(
      mpi_launch(2, train_args(dir / "run", 50, 1,
                               {"--lr", "1e30", "--warmup", "0", "--grad-clip", "0", "--max-nonfinite", "2",
                                "--checkpoint-every", "1", "--rank-log", (dir / "ranks").string()})),
      dir, "job");
  const Ended e = job.wait(120);
  INFO("stdout:\n" << e.out << "\nstderr:\n" << e.err);
  REQUIRE(e.exited);
  CHECK(e.code == 3);
  CHECK(e.err.find("non-finite steps in a row") != std::string::npos);
  // Rank 0 alone warns: each skipped step is reported once.
  REQUIRE(e.err.find("step 2: non-finite") != std::string::npos);
  CHECK(e.err.find("step 2: non-finite") == e.err.rfind("step 2: non-finite"));
  // Both ranks stopped at the same step with the same (finite, unchanged by skipped steps) weights.
  const nlohmann::json end0 = json_lines(dir / "ranks" / "rank0.jsonl").back();
  const nlohmann::json end1 = json_lines(dir / "ranks" / "rank1.jsonl").back();
  REQUIRE(end0.contains("param_checksum"));
  CHECK(end0.at("step") == end1.at("step"));
  CHECK(end0.at("param_checksum") == end1.at("param_checksum"));
}
