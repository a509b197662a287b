// The fuzzers' seed corpus (fuzz/corpus) and every input the fuzzers found
// (tests/fuzz_regressions), fed to the safetensors reader and the checkpoint loader: each
// must load, or be rejected with a tinydiff::Error whose message contains the words listed
// in the folder's expected.tsv. Then the limits that hold whatever a file says.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fuzz/fuzz_model.h"
#include "nn/checkpoint.h"
#include "nn/safetensors.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

SafetensorsData parse(const std::string& bytes, const std::string& name = "mem") {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

struct Expectation {
  std::string file;    // "<target>/<name>"
  std::string expect;  // "ok" or words of the error message
};

// expected.tsv: "# comment" lines and "<target>/<name> TAB <ok | words>" lines.
std::vector<Expectation> read_expectations(const fs::path& tsv) {
  std::vector<Expectation> out;
  std::ifstream in(tsv);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    out.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return out;
}

// The same bytes in every tensor and metadata value (order-independent).
std::map<std::string, std::string> contents(const SafetensorsData& d) {
  std::map<std::string, std::string> out;
  for (const auto& [name, t] : d.tensors) {
    std::string bytes = std::string(dtype_name(t.dtype())) + shape_str(t.shape());
    bytes.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel() * dtype_size(t.dtype())));
    out.emplace("t:" + name, bytes);
  }
  for (const auto& [key, value] : d.metadata) out.emplace("m:" + key, value);
  return out;
}

int64_t tensor_bytes(const SafetensorsData& d) {
  int64_t total = 0;
  for (const auto& [name, t] : d.tensors) total += t.numel() * dtype_size(t.dtype());
  return total;
}

// Feeds one safetensors input to both readers; checks the expectation and the invariants the
// fuzzer checks (same result from both readers, round trip, no more tensor bytes than the file).
void check_safetensors(const fs::path& path, const std::string& expect) {
  const std::string bytes = read_bytes(path);
  const std::string name = path.string();
  if (expect == "ok") {
    SafetensorsData d;
    REQUIRE_NOTHROW(d = parse(bytes, name));
    CHECK(contents(load_safetensors(name)) == contents(d));
    CHECK(tensor_bytes(d) <= static_cast<int64_t>(bytes.size()));
    CHECK(contents(parse(serialize_safetensors(d.tensors, d.metadata))) == contents(d));
    return;
  }
  // (Catch2 v2 combined matchers refer to temporaries: build one per check.)
  const std::string prefix = "load_safetensors: " + name + ": ";
  CHECK_THROWS_WITH(parse(bytes, name), Catch::StartsWith(prefix) && Catch::Contains(expect));
  CHECK_THROWS_WITH(load_safetensors(name), Catch::StartsWith(prefix) && Catch::Contains(expect));
  try {
    parse(bytes, name);
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);  // one line
    CHECK(message.size() <= 1024);                   // short enough to read
  }
}

// Loads one checkpoint input into a fresh training state; on rejection nothing may change.
void check_checkpoint(const fs::path& path, const std::string& expect) {
  fuzz::FuzzTrainingState s;
  const std::string before = s.snapshot();
  if (expect == "ok") {
    REQUIRE_NOTHROW(load_checkpoint(path.string(), s.model, &s.optimizer, &s.ema));
    // As the fuzzer does: the restored state must take a training step (an absurd step count
    // or EMA count would overflow here; the sanitized build reports it).
    for (auto& [name, p] : s.model.named_parameters())
      Variable(p).set_grad(Tensor::full(p.shape(), 0.5, p.value().dtype()));
    CHECK_NOTHROW(s.optimizer.step());
    CHECK_NOTHROW(s.ema.update());
    fuzz::FuzzModel weights;
    CHECK_NOTHROW(load_checkpoint_weights(path.string(), weights, false));
    return;
  }
  CHECK_THROWS_WITH(
      load_checkpoint(path.string(), s.model, &s.optimizer, &s.ema),
      (Catch::StartsWith("load_checkpoint: ") || Catch::StartsWith("load_safetensors: ")) && Catch::Contains(expect));
  CHECK(s.snapshot() == before);
}

// Every file of `root`/<target>/ is listed in root/expected.tsv and meets its expectation.
void check_corpus(const fs::path& root) {
  const auto expectations = read_expectations(root / "expected.tsv");
  std::set<std::string> listed;
  for (const auto& e : expectations) {
    INFO(root.string() << ": " << e.file << " (expected: " << e.expect << ")");
    REQUIRE(fs::is_regular_file(root / e.file));
    listed.insert(e.file);
    const std::string target = e.file.substr(0, e.file.find('/'));
    if (target == "safetensors")
      check_safetensors(root / e.file, e.expect);
    else if (target == "checkpoint")
      check_checkpoint(root / e.file, e.expect);
    else
      FAIL("unknown target folder '" << target << "'");
  }
  for (const char* target : {"safetensors", "checkpoint"}) {
    if (!fs::is_directory(root / target)) continue;
    for (const auto& f : fs::directory_iterator(root / target)) {
      const std::string file = std::string(target) + "/" + f.path().filename().string();
      INFO(root.string() << ": " << file << " has no line in expected.tsv");
      CHECK(listed.count(file) == 1);
    }
  }
}

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}
std::string file_of(const std::string& header, const std::string& buffer = "") {
  return le64(header.size()) + header + buffer;
}
std::string one_tensor(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return fmt::format(R"({{"t":{{"dtype":"{}","shape":{},"data_offsets":{}}}}})", dtype, shape, offsets);
}

}  // namespace

TEST_CASE("fuzz seed corpus: valid files load, near-misses give their error", "[safetensors][fuzz]") {
  check_corpus(fs::path(TINYDIFF_SOURCE_DIR) / "fuzz" / "corpus");
}

TEST_CASE("fuzz regressions: every input the fuzzers found is rejected cleanly or loads", "[safetensors][fuzz]") {
  check_corpus(fs::path(TINYDIFF_SOURCE_DIR) / "tests" / "fuzz_regressions");
}

TEST_CASE("safetensors limits: a header cannot make the reader allocate more than the file holds",
          "[safetensors][limits]") {
  // 2^40 floats (4 TiB) declared, 16 bytes present: rejected by the offset check, before any
  // allocation (an attempt would throw "out of memory" or be stopped by ASan).
  const std::string big = file_of(one_tensor("F32", "[1099511627776]", "[0,4398046511104]"), std::string(16, '\0'));
  CHECK_THROWS_WITH(parse(big), Catch::Contains("ends at buffer byte 4398046511104 but the buffer holds only 16"));
  // Many tensors, each small, together larger than the buffer.
  std::string header = "{";
  for (int i = 0; i < 1000; ++i)
    header += fmt::format(R"({}"t{}":{{"dtype":"F64","shape":[1024],"data_offsets":[{},{}]}})", i ? "," : "", i,
                          8192 * i, 8192 * (i + 1));
  header += "}";
  CHECK_THROWS_WITH(parse(file_of(header, std::string(8192, '\0'))),
                    Catch::Contains("tensor 't1' ends at buffer byte 16384 but the buffer holds only 8192"));
  // The header length field cannot make it read or allocate past the file either.
  CHECK_THROWS_WITH(parse(le64(~uint64_t{0}) + "{}"), Catch::Contains("exceeds the limit of 100000000 bytes"));
  CHECK_THROWS_WITH(parse(le64(99'999'999) + "{}"), Catch::Contains("exceeds the 2 bytes after the length field"));
}

TEST_CASE("safetensors limits: extents and offsets at the edges of int64 and uint64", "[safetensors][limits]") {
  auto rejects = [](const std::string& shape, const std::string& offsets, const std::string& words,
                    const std::string& dtype = "F32") {
    INFO("shape " << shape << ", data_offsets " << offsets);
    CHECK_THROWS_WITH(parse(file_of(one_tensor(dtype, shape, offsets))), Catch::Contains(words));
  };
  // An extent above int64's maximum, even next to a zero extent (0 elements).
  rejects("[9223372036854775808]", "[0,0]", "overflows int64");
  rejects("[0,9223372036854775808]", "[0,0]", "overflows int64");
  rejects("[18446744073709551615]", "[0,0]", "overflows int64");
  // Beyond uint64: the JSON number is no longer an integer.
  rejects("[18446744073709551616]", "[0,0]", "shape must be an array of integers");
  rejects("[1e3]", "[0,0]", "shape must be an array of integers");
  // Element count fits, bytes do not (I64: 8 bytes each).
  rejects("[1152921504606846976]", "[0,0]", "overflows int64", "I64");
  // Zero elements, but the row-major strides of the other extents overflow int64.
  rejects("[0,4611686018427387904,4]", "[0,0]", "strides overflow int64");
  rejects("[4,0,4611686018427387904]", "[0,0]", "strides overflow int64");
  // Offsets at the top of uint64.
  rejects("[1]", "[0,18446744073709551615]", "needs 4 bytes");
  rejects("[0]", "[18446744073709551615,18446744073709551615]", "offsets are not contiguous");
  rejects("[1]", "[18446744073709551612,18446744073709551616]", "data_offsets must be two non-negative integers");
  // The largest accepted empty shape: the strides just fit.
  const SafetensorsData ok = parse(file_of(one_tensor("F32", "[0,4611686018427387904]", "[0,0]")));
  CHECK(ok.at("t").shape() == Shape{0, int64_t{1} << 62});
  CHECK(ok.at("t").numel() == 0);
}

TEST_CASE("safetensors limits: rank cap and header nesting cap", "[safetensors][limits]") {
  // Rank 8 is the cap (inclusive); rank 9 and a huge rank are rejected by count, not by size.
  CHECK(parse(file_of(one_tensor("F32", "[1,1,1,1,1,1,1,1]", "[0,4]"), std::string(4, '\0'))).at("t").dim() == 8);
  std::string huge_rank = "[";
  for (int i = 0; i < 100000; ++i) huge_rank += i ? ",1" : "1";
  huge_rank += "]";
  CHECK_THROWS_WITH(parse(file_of(one_tensor("F32", huge_rank, "[0,4]"), std::string(4, '\0'))),
                    Catch::Contains("has rank 100000") && Catch::Contains("at most 8 axes"));
  // Nesting: 32 levels is the cap whatever the bytes say.
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += R"({"a":)";
  CHECK_THROWS_WITH(parse(file_of(deep)), Catch::Contains("nested more than 32 levels deep"));
  CHECK_THROWS_WITH(parse(file_of(std::string(1'000'000, '['))), Catch::Contains("nested more than 32 levels deep"));
}
