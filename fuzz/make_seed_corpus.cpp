// Writes the fuzzers' seed corpus: small valid files and near-misses (one defect each).
//
//   make_seed_corpus <dir>   ->  <dir>/safetensors/<name>, <dir>/checkpoint/<name>,
//                                <dir>/expected.tsv ("<target>/<name> TAB ok | words of the error")
//
// scripts/fuzz --seeds regenerates fuzz/corpus with it; tests/nn/test_fuzz_regressions.cpp
// feeds every file to the readers and checks expected.tsv.
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_model.h"
#include "nn/checkpoint.h"
#include "nn/safetensors.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

struct Writer {
  fs::path dir;
  std::ofstream expected;

  void add(const std::string& target, const std::string& name, const std::string& bytes, const std::string& expect) {
    fs::create_directories(dir / target);
    std::ofstream(dir / target / name, std::ios::binary | std::ios::trunc) << bytes;
    expected << target << '/' << name << '\t' << expect << '\n';
  }
};

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}
std::string file_of(const std::string& header, const std::string& buffer = "") {
  return le64(header.size()) + header + buffer;
}
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
  return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, begin, end);
}

void safetensors_seeds(Writer& w) {
  const std::string t = "safetensors";
  const NamedTensors sample = {
      {"w", Tensor::from_vector({0.1, -2.5, 3.0, 1e-30, -0.0, 7.25}, {2, 3}, DType::F32)},
      {"b64", Tensor::from_vector({3.25, -1.0 / 3.0}, {2}, DType::F64)},
      {"idx", Tensor::from_indices({-1, int64_t{1} << 40}, {2})},
      {"scalar", Tensor::scalar(0.125)},
      {"empty", Tensor::zeros({0, 5})},
  };
  const std::string good = serialize_safetensors(sample, {{"step", "12"}, {"note", "\xc3\xbc"}});
  uint64_t n = 0;  // header length
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(good[static_cast<size_t>(i)]);
  const std::string b16(16, '\0');

  // Valid files.
  w.add(t, "valid_all_dtypes", good, "ok");
  w.add(t, "valid_empty", serialize_safetensors({}), "ok");
  w.add(t, "valid_metadata_only", serialize_safetensors({}, {{"k", "v"}}), "ok");
  w.add(t, "valid_unpadded",
        file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string("\0\0\x80?", 4)), "ok");
  w.add(t, "valid_rank8", file_of("{" + entry("r", "I64", "[1,1,1,1,1,1,1,2]", 0, 16) + "}", b16), "ok");
  w.add(t, "valid_zero_extent_huge", file_of("{" + entry("z", "F32", "[0,4611686018427387904]", 0, 0) + "}"), "ok");

  // Near-misses, one defect each.
  w.add(t, "short_file", good.substr(0, 5), "too short for the 8-byte header length");
  w.add(t, "header_over_limit", le64(200'000'000) + "{}", "exceeds the limit of 100000000");
  w.add(t, "header_past_end", le64(1000) + "{}", "exceeds the 2 bytes after the length field");
  w.add(t, "cut_in_header", good.substr(0, 8 + n - 3), "exceeds the");
  w.add(t, "cut_in_data", good.substr(0, good.size() - 4), "truncated file?");
  w.add(t, "trailing_bytes", good + "xy", "2 trailing bytes");
  w.add(t, "bad_json", file_of("{\"w\": {"), "header is not valid JSON");
  w.add(t, "bad_utf8", file_of("{\"w\xff\":{}}"), "header is not valid UTF-8");
  w.add(t, "not_object", file_of("[1, 2]"), "header is not a JSON object");
  w.add(t, "deep_nesting", file_of(std::string(40, '[') + std::string(40, ']')), "nested more than 32 levels deep");
  w.add(t, "duplicate_name",
        file_of("{" + entry("w", "F32", "[2,2]", 0, 16) + "," + entry("w", "F32", "[2,2]", 16, 32) + "}", b16 + b16),
        "duplicate tensor name 'w'");
  w.add(t, "unknown_key",
        file_of(R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", std::string(4, '\0')),
        "has unexpected key 'x'");
  w.add(t, "unsupported_dtype", file_of("{" + entry("w", "F16", "[2,4]", 0, 16) + "}", b16), "unsupported dtype 'F16'");
  w.add(t, "rank9", file_of("{" + entry("w", "F32", "[1,1,1,1,1,1,1,1,4]", 0, 16) + "}", b16), "has rank 9");
  w.add(t, "negative_extent", file_of("{" + entry("w", "F32", "[2,-2]", 0, 16) + "}", b16), "negative extent");
  w.add(t, "numel_overflow",
        file_of("{" + entry("w", "F32", "[4611686018427387904,4611686018427387904]", 0, 16) + "}", b16),
        "overflows int64");
  w.add(t, "bytes_overflow", file_of("{" + entry("w", "F64", "[2305843009213693952]", 0, 16) + "}", b16),
        "overflows int64");
  w.add(t, "size_mismatch", file_of("{" + entry("w", "F32", "[2,2]", 0, 12) + "}", std::string(12, '\0')),
        "needs 16 bytes");
  w.add(t, "overlap",
        file_of("{" + entry("a", "F32", "[2,2]", 0, 16) + "," + entry("b", "F32", "[2,2]", 8, 24) + "}",
                b16 + std::string(8, '\0')),
        "overlaps tensor 'a'");
  w.add(t, "gap",
        file_of("{" + entry("a", "F32", "[2,2]", 0, 16) + "," + entry("b", "F32", "[2,2]", 20, 36) + "}",
                b16 + b16 + std::string(4, '\0')),
        "offsets are not contiguous");
  w.add(t, "metadata_number", file_of(R"({"__metadata__":{"step":12}})"), "must be a string, got number");
}

void checkpoint_seeds(Writer& w) {
  const std::string t = "checkpoint";
  const fs::path tmp = w.dir / "tmp.safetensors";
  fuzz::FuzzTrainingState s;
  for (int step = 0; step < 2; ++step) {
    for (auto& [name, p] : s.model.named_parameters())
      Variable(p).set_grad(Tensor::full(p.shape(), 0.25 * (step + 1), p.value().dtype()));
    s.optimizer.step();
    s.ema.update();
  }
  save_checkpoint(tmp.string(), s.model, &s.optimizer, &s.ema, {{"step", "2"}, {"rng", "42:1024"}});
  const SafetensorsData full = load_safetensors(tmp.string());
  auto read = [&](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  w.add(t, "valid_full", read(tmp), "ok");
  fuzz::FuzzTrainingState fresh;
  save_checkpoint(tmp.string(), fresh.model, &fresh.optimizer, &fresh.ema, {{"step", "0"}});
  w.add(t, "valid_before_first_step", read(tmp), "ok");
  fs::remove(tmp);

  // Near-misses: the full checkpoint with one change.
  auto variant = [&](const std::string& name, auto change, const std::string& expect) {
    NamedTensors tensors = full.tensors;
    std::map<std::string, std::string> meta = full.metadata;
    change(tensors, meta);
    w.add(t, name, serialize_safetensors(tensors, meta), expect);
  };
  using M = std::map<std::string, std::string>;
  auto set = [](NamedTensors& ts, const std::string& name, const Tensor& v) {
    for (auto& [n, x] : ts)
      if (n == name) x = v;
  };
  variant(
      "wrong_shape",
      [&](NamedTensors& ts, M&) {
        set(ts, "model.proj.weight", Tensor::zeros({3, 2}));
      },
      "size mismatch for 'proj.weight'");
  variant(
      "missing_tensor",
      [](NamedTensors& ts, M&) { std::erase_if(ts, [](const auto& p) { return p.first == "model.proj.bias"; }); },
      "missing: 'proj.bias'");
  variant(
      "unexpected_tensor", [](NamedTensors& ts, M&) { ts.emplace_back("model.extra", Tensor::zeros({1})); },
      "unexpected: 'extra'");
  variant(
      "foreign_prefix", [](NamedTensors& ts, M&) { ts.emplace_back("other.x", Tensor::zeros({1})); },
      "unexpected tensor 'other.x'");
  variant(
      "no_format", [](NamedTensors&, M& m) { m.erase("tinydiff.format"); }, "not a tinydiff training checkpoint");
  variant(
      "wrong_format", [](NamedTensors&, M& m) { m["tinydiff.format"] = "tinydiff-checkpoint-v0"; },
      "is not the supported");
  variant(
      "bad_ema_count", [](NamedTensors&, M& m) { m["tinydiff.ema_num_updates"] = "-3"; }, "is missing or not a count");
  variant(
      "step_not_int64", [&](NamedTensors& ts, M&) { set(ts, "optim.step", Tensor::scalar(2.0)); },
      "must be a 0-d int64 tensor");
  variant(
      "negative_step", [&](NamedTensors& ts, M&) { set(ts, "optim.step", Tensor::from_indices({-1}, {})); },
      "expected a count in [0, 2^53]");
  variant(
      "partial_adam_state",
      [](NamedTensors& ts, M&) {
        std::erase_if(ts, [](const auto& p) { return p.first == "optim.scale.exp_avg_sq"; });
      },
      "the parameter's other state is present");
  variant(
      "ema_wrong_shape",
      [&](NamedTensors& ts, M&) {
        set(ts, "ema.embed.weight", Tensor::zeros({3, 4}));
      },
      "ema: size mismatch");
  variant(
      "int64_weight", [&](NamedTensors& ts, M&) { set(ts, "model.scale", Tensor::from_indices({1}, {})); },
      "ok");  // converted to the parameter's float32, as PyTorch's load_state_dict does
  variant(
      "bad_rng_text", [](NamedTensors&, M& m) { m["rng"] = "42;1024"; }, "ok");  // the caller parses "rng"
  // Not a checkpoint at all: a plain safetensors file, and bytes that are not safetensors.
  w.add(t, "plain_safetensors", serialize_safetensors({{"w", Tensor::zeros({2})}}),
        "not a tinydiff training checkpoint");
  w.add(t, "garbage", "tinydiff checkpoint? no.", "header length");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus <dir>\n");
    return 1;
  }
  Writer w{argv[1], {}};
  fs::create_directories(w.dir);
  w.expected.open(w.dir / "expected.tsv", std::ios::trunc);
  w.expected << "# <target>/<file> TAB ok (loads) or words of the tinydiff::Error message. Written by "
                "fuzz/make_seed_corpus.cpp.\n";
  try {
    safetensors_seeds(w);
    checkpoint_seeds(w);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seed_corpus: %s\n", e.what());
    return 2;
  }
  return 0;
}
