// Helpers of the trainer's data-parallel mode. See data_parallel.h.
#include "diffusion/training/data_parallel.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace tinydiff {

namespace {
std::string hex(uint64_t v) { return fmt::format("{:016x}", v); }

// The bytes of a text as an int64 tensor (one element per byte), for tensor_checksum.
Tensor text_tensor(const std::string& text) {
  return Tensor::from_indices(std::vector<int64_t>(text.begin(), text.end()), {static_cast<int64_t>(text.size())});
}
}  // namespace

GradientSync::GradientSync(int rank, int ranks) : rank_(rank), ranks_(ranks) {}

BatchShard GradientSync::shard(int64_t batch) const { return batch_shard(batch, rank_, ranks_); }

double GradientSync::average(const std::vector<Variable>& params, double loss, int64_t rows, int64_t batch) {
  if (ranks_ == 1) return loss;
  // The global batch's mean loss and gradient: shard means weighted by b / B (distributed.h).
  const double weight = static_cast<double>(rows) / static_cast<double>(batch);
  const GradientAllReduce reduced = all_reduce_gradients(params, weight);
  last_seconds_ = reduced.seconds;
  bytes_ = reduced.bytes;
  return all_reduce_sum(weight * loss);
}

bool GradientSync::any(bool flag) const { return ranks_ > 1 ? all_reduce_any(flag) : flag; }

Tensor shard_rows(const Tensor& x, const BatchShard& shard) {
  if (shard.begin == 0 && shard.end == x.size(0)) return x;
  return x.slice(0, shard.begin, shard.end).contiguous();
}

RankLog::RankLog(const std::string& dir, int rank, int ranks) : rank_(rank), ranks_(ranks) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string file = (std::filesystem::path(dir) / fmt::format("rank{}.jsonl", rank)).string();
  out_.open(file, std::ios::app);
  TD_CHECK(!ec && out_.good(), "RankLog", fmt::format("cannot write the rank log '{}'", file));
}

void RankLog::step(int64_t step, const BatchShard& shard, const Tensor& x0, const Tensor& noise, const Tensor& t,
                   const std::vector<std::string>& captions) {
  const int64_t b = shard.size();
  TD_CHECK(x0.dim() >= 1 && x0.size(0) == b && noise.shape() == x0.shape() && t.shape() == Shape({b}) &&
               static_cast<int64_t>(captions.size()) == b,
           "RankLog::step",
           fmt::format("a shard of {} rows needs x0 and noise (b, ...), t (b) and b captions; got {}, {}, {} and {}", b,
                       shape_str(x0.shape()), shape_str(noise.shape()), shape_str(t.shape()), captions.size()));
  const Tensor tc = t.contiguous();
  std::vector<int64_t> ts(tc.data<int64_t>(), tc.data<int64_t>() + b);
  std::vector<std::string> examples;
  for (int64_t i = 0; i < b; ++i)
    examples.push_back(hex(tensor_checksum(
        {x0.slice(0, i, i + 1), noise.slice(0, i, i + 1), text_tensor(captions[static_cast<size_t>(i)])})));
  const nlohmann::json line = {{"step", step},    {"rank", rank_},
                               {"ranks", ranks_}, {"rows", {shard.begin, shard.end}},
                               {"t", ts},         {"examples", examples}};
  out_ << line.dump() << '\n' << std::flush;
}

void RankLog::end(int64_t step, uint64_t param_checksum) {
  const nlohmann::json line = {
      {"step", step}, {"rank", rank_}, {"ranks", ranks_}, {"param_checksum", hex(param_checksum)}};
  out_ << line.dump() << '\n' << std::flush;
}

uint64_t training_state_checksum(const std::vector<Variable>& params, const NamedTensors& optimizer_state,
                                 const NamedTensors& ema_state, const std::string& scalars) {
  std::vector<Tensor> state;
  for (const auto& [name, t] : optimizer_state) state.push_back(t);
  for (const auto& [name, t] : ema_state) state.push_back(t);
  state.push_back(text_tensor(scalars));
  return tensor_checksum(state, parameter_checksum(params));
}

}  // namespace tinydiff
