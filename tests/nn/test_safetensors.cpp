// Safetensors reader/writer: round trips, the header layout, a corpus of malformed files each
// rejected with its own message, mutation fuzzing, the PyTorch golden file, atomic writes.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "nn/atomic_file.h"
#include "nn/safetensors.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// A fresh, empty scratch folder for one test.
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("tinydiff_f2_{}_{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// An 8-byte little-endian length followed by `header` and `buffer`.
std::string with_length(uint64_t length, const std::string& header, const std::string& buffer = "") {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return out + header + buffer;
}
// "{a,b,...}" (appending, not "{" + a: GCC 12 misreports the latter with -Wrestrict).
std::string obj(std::initializer_list<std::string> entries) {
  std::string out(1, '{');
  for (const auto& e : entries) out.append(out.size() > 1 ? "," : "").append(e);
  return out.append("}");
}
std::string file_of(const std::string& header, const std::string& buffer = "") {
  return with_length(header.size(), header, buffer);
}

SafetensorsData parse(const std::string& bytes, const std::string& name = "bad.safetensors") {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return n;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t bytes = static_cast<size_t>(a.numel() * dtype_size(a.dtype()));
  return bytes == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), bytes) == 0;
}

NamedTensors sample_tensors() {
  return {
      {"w", Tensor::from_vector({0.1, -2.5, 3.0, 1e-30, -0.0, 7.25}, {2, 3}, DType::F32)},
      {"b64", Tensor::from_vector({M_PI, -1.0 / 3.0}, {2}, DType::F64)},
      {"idx", Tensor::from_indices({-1, int64_t{1} << 40, std::numeric_limits<int64_t>::max()}, {3})},
      {"scalar", Tensor::scalar(0.125, DType::F32)},
      {"empty", Tensor::zeros({0, 5}, DType::F32)},
  };
}

}  // namespace

TEST_CASE("safetensors round trip of F32, F64, I64, rank-0, empty tensors and metadata", "[safetensors]") {
  const NamedTensors tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {{"step", "12"}, {"config", "{\"a\": [1, 2]}"}, {"utf8", "\xc3\xbc"}};
  const std::string bytes = serialize_safetensors(tensors, meta);
  const SafetensorsData back = parse(bytes, "mem");
  REQUIRE(back.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    REQUIRE(back.contains(name));
    CHECK(bitwise_equal(back.at(name), t));  // exact bits, including -0.0 and 1e-30
  }
  CHECK(back.metadata == meta);
  CHECK(back.at("scalar").dim() == 0);
  CHECK(back.at("empty").shape() == Shape{0, 5});
  CHECK(back.at("idx").data<int64_t>()[2] == std::numeric_limits<int64_t>::max());
  CHECK_THROWS_WITH(back.at("nope"), Catch::Contains("no tensor 'nope'"));

  SECTION("no metadata and no tensors") {
    const SafetensorsData empty = parse(serialize_safetensors({}));
    CHECK(empty.tensors.empty());
    CHECK(empty.metadata.empty());
  }
  SECTION("a non-contiguous tensor is written row-major") {
    const Tensor base = Tensor::arange(0, 6, 1, DType::F64).reshape({2, 3});
    const SafetensorsData d = parse(serialize_safetensors({{"t", base.transpose(0, 1)}}));
    CHECK(d.at("t").shape() == Shape{3, 2});
    CHECK(d.at("t").to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  }
}

TEST_CASE("safetensors header: length field, space padding to 8, writer order", "[safetensors]") {
  const std::string bytes = serialize_safetensors(sample_tensors(), {{"k", "v"}});
  const uint64_t n = header_length(bytes);
  CHECK(n % 8 == 0);
  REQUIRE(8 + n <= bytes.size());
  const std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  const size_t close = header.find_last_of('}');
  CHECK(close >= n - 8);                                                 // padding < 8 bytes
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);  // spaces only
  CHECK(header.find("\"__metadata__\":{\"k\":\"v\"}") != std::string::npos);
  // Expected buffer: 8-byte types first by name (b64, idx), then 4-byte (empty, scalar, w).
  CHECK(header.find("\"b64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}") != std::string::npos);
  CHECK(header.find("\"idx\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[16,40]}") != std::string::npos);
  CHECK(header.find("\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[40,40]}") != std::string::npos);
  CHECK(header.find("\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]}") != std::string::npos);
  CHECK(header.find("\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[44,68]}") != std::string::npos);
  CHECK(bytes.size() == 8 + n + 68);
  // Buffer bytes of b64 at offset 0: pi, little-endian.
  double pi = 0;
  std::memcpy(&pi, bytes.data() + 8 + n, 8);
  CHECK(pi == M_PI);
  // A header without padding (allowed by the format) still loads.
  CHECK(parse(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')))
            .at("a")
            .item() == 0.0);
}

TEST_CASE("safetensors writer rejects bad input", "[safetensors]") {
  const Tensor t = Tensor::zeros({1});
  CHECK_THROWS_WITH(serialize_safetensors({{"a", t}, {"a", t}}), Catch::Contains("duplicate tensor name 'a'"));
  CHECK_THROWS_WITH(serialize_safetensors({{"__metadata__", t}}), Catch::Contains("reserved"));
  CHECK_THROWS_WITH(serialize_safetensors({{"u", Tensor()}}), Catch::Contains("'u' is undefined"));
  CHECK_THROWS_WITH(serialize_safetensors({}, {{"k", "\xff"}}), Catch::Contains("not valid UTF-8"));
}

TEST_CASE("safetensors reader rejects each malformed file with its own message", "[safetensors]") {
  const std::string good = serialize_safetensors({{"w", Tensor::ones({2, 2})}});
  const std::string b16(16, '\0');
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
    return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, begin, end);
  };
  auto expect = [](const std::string& bytes, const std::string& words) {
    INFO("expected: " << words);
    CHECK_THROWS_WITH(parse(bytes, "bad.safetensors"),
                      Catch::Contains("load_safetensors: bad.safetensors: ") && Catch::Contains(words));
  };

  // Length field and size.
  expect("", "file is 0 bytes, too short");
  expect(good.substr(0, 5), "file is 5 bytes, too short");
  expect(with_length(200'000'000, "{}"), "header length 200000000 exceeds the limit of 100000000");
  expect(with_length(1000, "{}"), "header length 1000 exceeds the 2 bytes after the length field");
  expect(good.substr(0, 8 + header_length(good) - 3), "exceeds the");                              // cut in header
  expect(good.substr(0, good.size() - 4), "ends at buffer byte 16 but the buffer holds only 12");  // cut in data
  expect(good + "xy", "2 trailing bytes");

  // Text.
  expect(file_of("{\"w\": {"), "header is not valid JSON");
  expect(file_of("{\"w\xff\":{}}"), "header is not valid UTF-8 (byte 0xff");
  expect(file_of("{\"\xc0\xaf\":{}}"), "not valid UTF-8");  // overlong '/'
  expect(file_of("[1, 2]"), "header is not a JSON object (got array)");
  expect(file_of(std::string(100000, '[')), "nested more than 32 levels deep");
  expect(file_of(R"({"w":{"x":{"y":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}})"),
         "nested more than 32 levels deep");
  expect(file_of(obj({entry("w", "F32", "[2,2]", 0, 16), entry("w", "F32", "[2,2]", 16, 32)}), b16 + b16),
         "duplicate tensor name 'w'");
  expect(file_of(R"({"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
         "duplicate key 'dtype'");

  // Entries.
  expect(file_of(R"({"w":[1]})"), "tensor 'w' must be a JSON object, got array");
  expect(file_of(R"({"w":{"dtype":"F32","shape":[1]}})"), "tensor 'w' has no 'data_offsets'");
  expect(file_of(R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", std::string(4, '\0')),
         "tensor 'w' has unexpected key 'x'");
  expect(file_of(obj({entry("w", "X99", "[2,2]", 0, 16)}), b16), "tensor 'w' has unknown dtype \"X99\"");
  expect(file_of(obj({entry("w", "F16", "[2,4]", 0, 16)}), b16), "tensor 'w' has unsupported dtype 'F16'");
  expect(file_of(R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
         "dtype must be a string");
  expect(file_of(obj({entry("w", "F32", "[2.0,2]", 0, 16)}), b16), "shape must be an array of integers");
  expect(file_of(obj({entry("w", "F32", "[1,1,1,1,1,1,1,1,4]", 0, 16)}), b16), "tensor 'w' has rank 9");
  expect(file_of(obj({entry("w", "F32", "[2,-2]", 0, 16)}), b16), "tensor 'w' has a negative extent");
  expect(file_of(obj({entry("w", "F32", "[4611686018427387904,4611686018427387904]", 0, 16)}), b16), "overflows int64");
  expect(file_of(obj({entry("w", "F64", "[2305843009213693952]", 0, 16)}), b16), "overflows int64");  // bytes
  expect(file_of(obj({entry("w", "F32", "[2,2]", 0, 12)}), std::string(12, '\0')),
         "tensor 'w' has data_offsets [0, 12] but shape (2, 2) float32 needs 16 bytes");
  expect(file_of(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", std::string(4, '\0')), "begin > end");
  expect(file_of(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}})", std::string(4, '\0')),
         "data_offsets must be two non-negative integers");
  expect(file_of(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", std::string(4, '\0')),
         "data_offsets must be two non-negative integers");

  // Layout of the buffer.
  expect(
      file_of(obj({entry("a", "F32", "[2,2]", 0, 16), entry("b", "F32", "[2,2]", 8, 24)}), b16 + std::string(8, '\0')),
      "tensor 'b' (data_offsets [8, 24]) overlaps tensor 'a' (data_offsets [0, 16])");
  expect(file_of(obj({entry("a", "F32", "[2,2]", 0, 16), entry("b", "F32", "[2,2]", 20, 36)}),
                 b16 + b16 + std::string(4, '\0')),
         "offsets are not contiguous: buffer bytes [16, 20) belong to no tensor");
  expect(file_of(obj({entry("a", "F32", "[2,2]", 4, 20)}), std::string(20, '\0')),
         "offsets are not contiguous: buffer bytes [0, 4)");
  expect(file_of(obj({entry("w", "F32", "[2,2]", 0, 16)}), b16 + "tail"), "4 trailing bytes");

  // Metadata.
  expect(file_of(R"({"__metadata__":{"step":12}})"), "__metadata__ value for 'step' must be a string, got number");
  expect(file_of(R"({"__metadata__":["a"]})"), "__metadata__ must be a JSON object of strings");
}

TEST_CASE("safetensors reader: every truncation and random byte mutations throw Error or parse", "[safetensors]") {
  const std::string good =
      serialize_safetensors({{"w", Tensor::ones({2, 3})}, {"i", Tensor::from_indices({1, 2}, {2})}}, {{"m", "x"}});
  for (size_t len = 0; len < good.size(); ++len) {
    INFO("prefix of " << len << " bytes");
    CHECK_THROWS_AS(parse(good.substr(0, len)), Error);
  }
  // Deterministic mutation fuzzing: flip one to three bytes anywhere; the reader must either
  // accept (e.g. a changed float value) or throw tinydiff::Error -- nothing else, no crash.
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int accepted = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(next() % 3);
    for (int f = 0; f < flips; ++f) bytes[next() % bytes.size()] = static_cast<char>(next() & 0xFF);
    try {
      parse(bytes);
      ++accepted;
    } catch (const Error&) {
      ++rejected;
    }
  }
  CHECK(accepted + rejected == 3000);
  CHECK(rejected > 1000);  // most header mutations must be caught
}

TEST_CASE("safetensors golden file written from PyTorch loads with exact values", "[safetensors]") {
  // tests/golden/from_torch.safetensors is written by tools/make_safetensors_golden.py.
  const SafetensorsData d = load_safetensors(TINYDIFF_SOURCE_DIR "/tests/golden/from_torch.safetensors");
  CHECK(d.tensors.size() == 8);
  CHECK(d.metadata.at("source").rfind("torch ", 0) == 0);
  CHECK(d.metadata.at("unicode") == "\xc3\xbc \xe2\x80\x94 \xe2\x9c\x93");  // "ü — ✓"

  const Tensor& w = d.at("linear.weight");
  CHECK(w.dtype() == DType::F32);
  CHECK(w.shape() == Shape{2, 3});
  CHECK(w.to_vector() == std::vector<double>{-0.5, -0.375, -0.25, -0.125, 0.0, 0.125});

  const Tensor& s = d.at("f32_special");
  REQUIRE(s.shape() == Shape{4});
  const float* ps = s.data<float>();
  CHECK(ps[0] == static_cast<float>(1.0 / 3.0));
  CHECK((ps[1] == 0.0f && std::signbit(ps[1])));
  CHECK(ps[2] == std::numeric_limits<float>::max());
  CHECK(ps[3] == std::numeric_limits<float>::min());

  const Tensor& f = d.at("f64");
  CHECK(f.dtype() == DType::F64);
  CHECK(f.to_vector() == std::vector<double>{M_PI, M_E, -1.0 / 3.0});

  const Tensor& i = d.at("i64");
  REQUIRE(i.dtype() == DType::I64);
  const int64_t* pi = i.data<int64_t>();
  CHECK(pi[0] == -1);
  CHECK(pi[1] == (int64_t{1} << 40));
  CHECK(pi[2] == (int64_t{1} << 53) + 1);
  CHECK(pi[3] == std::numeric_limits<int64_t>::min());

  CHECK(d.at("scalar").dim() == 0);
  CHECK(d.at("scalar").item() == 2.5);
  CHECK(d.at("empty").shape() == Shape{0, 4});
  CHECK(d.at("transposed").shape() == Shape{3, 2});
  CHECK(d.at("transposed").to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  CHECK(d.at("rank4").shape() == Shape{1, 2, 1, 3});
  CHECK(d.at("rank4").to_vector() == std::vector<double>{0, 0.125, 0.25, 0.375, 0.5, 0.625});
}

TEST_CASE("safetensors files on disk: save, load, and errors naming the path", "[safetensors]") {
  const fs::path dir = scratch("files");
  const std::string path = (dir / "t.safetensors").string();
  save_safetensors(path, sample_tensors(), {{"a", "b"}});
  const SafetensorsData d = load_safetensors(path);
  for (const auto& [name, t] : sample_tensors()) CHECK(bitwise_equal(d.at(name), t));
  CHECK(d.metadata.at("a") == "b");

  // The streaming file reader applies the same checks as parse_safetensors.
  const std::string bytes = serialize_safetensors(sample_tensors());
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 1); }
  CHECK_THROWS_WITH(load_safetensors(path), Catch::Contains(path) && Catch::Contains("truncated file?"));
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << "abc"; }
  CHECK_THROWS_WITH(load_safetensors(path), Catch::Contains("file is 3 bytes, too short"));
  CHECK_THROWS_WITH(load_safetensors((dir / "missing.safetensors").string()),
                    Catch::Contains("missing.safetensors: cannot open: No such file"));
  CHECK_THROWS_WITH(load_safetensors(dir.string()), Catch::Contains("is a folder, not a file"));
  fs::remove_all(dir);
}

TEST_CASE("write_file_atomic replaces files and leaves no temporary file on failure", "[safetensors]") {
  const fs::path dir = scratch("atomic");
  const std::string path = (dir / "ckpt.bin").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, "second version");
  {
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "second version");
  }
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
  auto entries = [&]() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  CHECK(entries() == std::vector<std::string>{"ckpt.bin"});

  // Fails after the temporary file was written: the target is a non-empty folder, so the
  // final rename fails. The temporary file must be removed.
  fs::create_directories(dir / "occupied" / "child");
  CHECK_THROWS_WITH(write_file_atomic((dir / "occupied").string(), "data"),
                    Catch::Contains("write_file_atomic: cannot write") && Catch::Contains("rename failed"));
  CHECK(entries() == std::vector<std::string>{"ckpt.bin", "occupied"});

  // A folder that cannot hold new files: /proc refuses them even for root.
  CHECK_THROWS_WITH(write_file_atomic("/proc/tinydiff_f2_test.bin", "data"),
                    Catch::Contains("cannot create a temporary file in folder '/proc'"));
  CHECK_THROWS_WITH(write_file_atomic((dir / "no" / "such" / "folder.bin").string(), "x"),
                    Catch::Contains("No such file or directory"));

  // A read-only folder (permission bits stop only non-root users).
  if (::geteuid() != 0) {
    const fs::path ro = dir / "readonly";
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH(write_file_atomic((ro / "x.bin").string(), "data"), Catch::Contains("Permission denied"));
    fs::permissions(ro, fs::perms::owner_all);
    CHECK(fs::is_empty(ro));
  }
  // The original file is untouched by the failures.
  CHECK(fs::file_size(path) == std::string("second version").size());
  fs::remove_all(dir);
}
