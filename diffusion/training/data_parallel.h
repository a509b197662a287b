/// \file
/// \brief Helpers of the trainer's data-parallel mode (several MPI ranks, nn/distributed.h): `RankLog`, the
/// per-rank debugging log of `TrainOptions::rank_log`, and `training_state_checksum`, which ranks compare at
/// start-up.
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
