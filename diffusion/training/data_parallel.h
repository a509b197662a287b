/// \file
/// \brief The trainer's data-parallel mode (several MPI ranks, nn/distributed.h): `GradientSync`, the one
/// hook a training step calls to share its work among the ranks, `RankLog`, the per-rank debugging log of
/// `TrainOptions::rank_log`, and `training_state_checksum`, which ranks compare at start-up.
///
/// `GradientSync` gives each rank its contiguous shard of the global batch of \f$B\f$ rows
/// (`batch_shard`), and after the backward pass replaces every gradient and the loss by their means
/// over the global batch: the shard means weighted by \f$b_r/B\f$, summed by one `MPI_Allreduce`.
/// With one rank the shard is the whole batch and `average` returns the loss untouched.
///
/// `RankLog` appends to `<dir>/rank<R>.jsonl` one JSON line per step,
///
///     {"step": 1, "rank": 0, "ranks": 2, "rows": [0, 3], "t": [938, 492, 17], "examples": ["3fa5...", ...]}
///
/// naming the rows [begin, end) of the global batch this rank trained on, their timesteps, and per
/// row a hex `tensor_checksum` of the row's clean image, its noise and its caption (after caption
/// dropout), and when training ends one line `{"step": N, "rank": R, "ranks": N, "param_checksum": "..."}`.
/// Joined in rank order, the ranks' lines of a step must equal the single process's line (the same
/// examples, timesteps and noise), and the final checksums must be equal: tests/mpi checks both.
///
/// Usage:
/// \code
///   GradientSync sync(world_rank(), world_size());
///   const BatchShard shard = sync.shard(B);                 // train on rows [shard.begin, shard.end)
///   loss.backward();
///   const double global_loss = sync.average(params, loss.item(), shard.size(), B);
///   RankLog log("runs/x/ranks", world_rank(), world_size());
///   log.step(step, shard, x0, noise, t, captions);          // x0, noise: (b, C, S, S); t: (b)
///   log.end(step, parameter_checksum(model.parameters()));
/// \endcode
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "nn/distributed.h"
#include "nn/safetensors.h"

namespace tinydiff {

/// Shares a training step among the ranks (see the file comment); with one rank it does nothing.
class GradientSync {
 public:
  /// This process is `rank` of `ranks` (world_rank(), world_size()).
  explicit GradientSync(int rank = 0, int ranks = 1);
  /// This process's rank.
  int rank() const { return rank_; }
  /// Number of ranks training together.
  int ranks() const { return ranks_; }
  /// This rank's rows [begin, end) of a global batch of `batch` rows.
  BatchShard shard(int64_t batch) const;
  /// Replaces every gradient of `params` by the global batch's mean gradient and returns the global
  /// mean loss, given this rank's mean `loss` over its `rows` of the `batch` rows. Collective; with
  /// one rank it returns `loss` and leaves the gradients alone.
  double average(const std::vector<Variable>& params, double loss, int64_t rows, int64_t batch);
  /// True on every rank when `flag` is true on any (e.g. a non-finite loss: every rank skips the step).
  bool any(bool flag) const;
  /// Seconds of the last gradient all-reduce (0 with one rank).
  double last_seconds() const { return last_seconds_; }
  /// Size of the all-reduced gradient buffer (0 with one rank or before the first all-reduce).
  int64_t bytes() const { return bytes_; }

 private:
  int rank_, ranks_;
  double last_seconds_ = 0.0;
  int64_t bytes_ = 0;
};

/// Rows [begin, end) of a tensor (B, ...) as a contiguous tensor (the tensor itself for all rows).
Tensor shard_rows(const Tensor& x, const BatchShard& shard);

/// One rank's debugging log (see the file comment).
class RankLog {
 public:
  /// Creates `dir` when missing and opens `dir/rank<rank>.jsonl` for appending; throws Error when
  /// that fails.
  RankLog(const std::string& dir, int rank, int ranks);
  /// Logs the rows this rank trains on at `step` (counting from 1). x0, noise: (b, C, S, S), the
  /// shard's clean images and noise; t: int64 (b); captions: b captions.
  void step(int64_t step, const BatchShard& shard, const Tensor& x0, const Tensor& noise, const Tensor& t,
            const std::vector<std::string>& captions);
  /// Logs the checksum of the weights when training ends at `step`.
  void end(int64_t step, uint64_t param_checksum);

 private:
  std::ofstream out_;
  int rank_, ranks_;
};

/// A checksum of everything a training step depends on besides the data: the parameter values,
/// the optimizer's and the EMA's state tensors, and `scalars` (e.g. the step, the random streams'
/// states and the options, as text). Equal on ranks that will take identical steps.
uint64_t training_state_checksum(const std::vector<Variable>& params, const NamedTensors& optimizer_state,
                                 const NamedTensors& ema_state, const std::string& scalars);

}  // namespace tinydiff
