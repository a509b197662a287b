// Safetensors reading (validate the header, then allocate) and writing. See safetensors.h.
#include "nn/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "nn/atomic_file.h"
#include "tensor/error.h"

namespace tinydiff {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using json = nlohmann::json;
constexpr const char* kLoad = "load_safetensors";
constexpr const char* kSave = "save_safetensors";

// ---------------------------------------------------------------------------------------
// Dtypes

const char* safetensors_dtype(DType d) {
  switch (d) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32")
    out = DType::F32;
  else if (s == "F64")
    out = DType::F64;
  else if (s == "I64")
    out = DType::I64;
  else
    return false;
  return true;
}

// Dtypes of the format that tinydiff does not read (to tell "unsupported" from "unknown").
bool other_safetensors_dtype(const std::string& s) {
  static const std::set<std::string> others = {"BOOL", "U8",   "I8",  "F8_E5M2", "F8_E4M3", "I16", "U16",
                                               "F16",  "BF16", "I32", "U32",     "U64",     "C64"};
  return others.count(s) > 0;
}

// ---------------------------------------------------------------------------------------
// UTF-8 (RFC 3629: shortest forms only, no surrogates, at most U+10FFFF)

// Index of the first byte of the first invalid sequence, or n when all is valid.
size_t invalid_utf8_at(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c < 0x80)
      len = 1;
    else if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c == 0xE0)
      len = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
      len = 3;
    else if (c == 0xED)
      len = 3, hi = 0x9F;
    else if (c == 0xF0)
      len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      len = 4;
    else if (c == 0xF4)
      len = 4, hi = 0x8F;
    else
      return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t b = s[i + k];
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return i;
    }
    i += len;
  }
  return n;
}

bool valid_utf8(const std::string& s) {
  return invalid_utf8_at(reinterpret_cast<const uint8_t*>(s.data()), s.size()) == s.size();
}

// ---------------------------------------------------------------------------------------
// Header validation

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

// Checks the 8-byte length field against the file size; returns the header length N.
uint64_t check_header_length(const uint8_t* first8, uint64_t file_size, const std::string& source) {
  TD_CHECK(file_size >= 8, kLoad,
           fmt::format("{}: file is {} bytes, too short for the 8-byte header length (not a safetensors file?)", source,
                       file_size));
  uint64_t n = 0;
  std::memcpy(&n, first8, 8);  // little-endian host (static_assert above)
  TD_CHECK(n <= kSafetensorsMaxHeaderBytes, kLoad,
           fmt::format("{}: header length {} exceeds the limit of {} bytes (corrupt or not a safetensors file)", source,
                       n, kSafetensorsMaxHeaderBytes));
  TD_CHECK(n <= file_size - 8, kLoad,
           fmt::format("{}: header length {} exceeds the {} bytes after the length field (truncated file?)", source, n,
                       file_size - 8));
  return n;
}

// A name or key from the file as it appears in an error message: control characters escaped
// (\n, \t, \xNN) so the message stays one line, and at most 80 bytes (a fuzz finding: a tensor
// name with a newline split the message).
std::string shown(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += s[i];
  }
  if (s.size() > 80) out += "...";
  return out;
}

// Reads tensor `name`'s entry after the generic checks. `fail` throws.
Entry parse_entry(const std::string& name, const json& info, const std::string& source) {
  auto fail = [&](const std::string& what) {
    throw Error(kLoad, fmt::format("{}: tensor '{}' {}", source, shown(name), what));
  };
  if (!info.is_object()) fail(fmt::format("must be a JSON object, got {}", info.type_name()));
  for (const auto& [key, value] : info.items()) {
    (void)value;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(fmt::format("has unexpected key '{}' (expected exactly dtype, shape, data_offsets)", shown(key)));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) fail(fmt::format("has no '{}' (expected exactly dtype, shape, data_offsets)", key));

  Entry e;
  e.name = name;
  const json& dt = info["dtype"];
  if (!dt.is_string()) fail(fmt::format("dtype must be a string, got {}", shown(dt.dump())));
  const std::string& dts = dt.get_ref<const std::string&>();
  if (!parse_dtype(dts, e.dtype)) {
    if (other_safetensors_dtype(dts))
      fail(fmt::format("has unsupported dtype '{}' (tinydiff reads F32, F64, I64)", shown(dts)));
    fail(fmt::format("has unknown dtype {} (expected F32, F64 or I64)", shown(dt.dump())));
  }

  const json& sh = info["shape"];
  if (!sh.is_array()) fail(fmt::format("shape must be an array of integers, got {}", sh.dump()));
  if (sh.size() > kSafetensorsMaxRank)
    fail(fmt::format("has rank {} (shape {}); at most {} axes are supported", sh.size(), shown(sh.dump()),
                     kSafetensorsMaxRank));
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  uint64_t stride_span = 1;  // product of the non-zero extents: the row-major strides must fit in int64
  bool overflow = false, stride_overflow = false;
  for (const json& d : sh) {
    if (!d.is_number_integer()) fail(fmt::format("shape must be an array of integers, got {}", sh.dump()));
    if (!d.is_number_unsigned()) fail(fmt::format("has a negative extent in shape {}", sh.dump()));
    const uint64_t v = d.get<uint64_t>();
    if (v > kMax) overflow = true;
    // Checked product, left to right, as Tensor::empty and the reference implementation do.
    if (v != 0 && numel > kMax / v) overflow = true;
    numel *= v;
    // A zero extent makes numel 0 but the other extents still multiply into the strides
    // (shape (0, 2^62, 4) has a stride of 2^64); found by the limits tests, see
    // tests/nn/test_fuzz_regressions.cpp.
    if (v != 0 && stride_span > kMax / v) stride_overflow = true;
    if (v != 0) stride_span *= v;
    e.shape.push_back(static_cast<int64_t>(v));
  }
  const uint64_t elem = static_cast<uint64_t>(dtype_size(e.dtype));
  if (!overflow && numel > kMax / elem) overflow = true;
  if (overflow) fail(fmt::format("has shape {} whose size in bytes overflows int64", sh.dump()));
  if (stride_overflow)
    fail(
        fmt::format("has shape {} whose row-major strides overflow int64 (the product of its non-zero extents "
                    "is too large)",
                    sh.dump()));
  const uint64_t bytes = numel * elem;

  const json& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    fail(fmt::format("data_offsets must be two non-negative integers, got {}", off.dump()));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end) fail(fmt::format("has data_offsets {} with begin > end", off.dump()));
  if (e.end - e.begin != bytes)
    fail(fmt::format("has data_offsets [{}, {}] but shape {} {} needs {} bytes", e.begin, e.end, shape_str(e.shape),
                     dtype_name(e.dtype), bytes));
  return e;
}

// Validates the JSON header (text[0, n)) against a buffer of `buffer_size` bytes. Allocates
// nothing but the parsed header itself.
Header parse_header(const uint8_t* text, size_t n, uint64_t buffer_size, const std::string& source) {
  const size_t bad = invalid_utf8_at(text, n);
  TD_CHECK(bad == n, kLoad,
           fmt::format("{}: header is not valid UTF-8 (byte 0x{:02x} at header offset {})", source, text[bad], bad));

  // nlohmann keeps the last of duplicate keys; a callback sees every key, so detect them here.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  size_t duplicate_depth = 0;
  // A valid header nests three deep ({"w": {"shape": [..]}}); deeper nesting is refused
  // early so that a 100 MB "[[[[..." cannot build a huge tree (serde_json, used by the
  // reference implementation, stops at 128).
  constexpr int kMaxDepth = 32;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) && depth >= kMaxDepth)
      throw Error(kLoad, fmt::format("{}: header JSON is nested more than {} levels deep", source, kMaxDepth));
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) {
        duplicate = key;
        duplicate_depth = open_objects.size();
      }
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, text + n, callback, /*allow_exceptions=*/true);
  } catch (const json::exception& ex) {
    // nlohmann's message quotes the last token read, escaped, which can be long (a fuzz finding:
    // a token of tabs and control bytes made a 1,100-character message): keep the first 300.
    std::string why = ex.what();
    if (why.size() > 300) why = why.substr(0, 300) + "...";
    throw Error(kLoad, fmt::format("{}: header is not valid JSON: {}", source, why));
  }
  if (!duplicate.empty()) {
    if (duplicate_depth == 1 && duplicate != "__metadata__")
      throw Error(kLoad, fmt::format("{}: duplicate tensor name '{}' in header", source, shown(duplicate)));
    throw Error(kLoad, fmt::format("{}: duplicate key '{}' in header", source, shown(duplicate)));
  }
  TD_CHECK(header.is_object(), kLoad,
           fmt::format("{}: header is not a JSON object (got {})", source, header.type_name()));

  Header out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      TD_CHECK(info.is_object(), kLoad,
               fmt::format("{}: __metadata__ must be a JSON object of strings, got {}", source, info.type_name()));
      for (const auto& [key, value] : info.items()) {
        TD_CHECK(value.is_string(), kLoad,
                 fmt::format("{}: __metadata__ value for '{}' must be a string, got {} {}", source, shown(key),
                             value.type_name(), shown(value.dump())));
        out.metadata.emplace(key, value.get<std::string>());
      }
      continue;
    }
    out.entries.push_back(parse_entry(name, info, source));
  }

  // The tensors must tile the buffer: sorted by offset, each starts where the previous ended.
  std::sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : out.entries) {
    if (e.begin < expected)
      throw Error(
          kLoad,
          fmt::format("{}: tensor '{}' (data_offsets [{}, {}]) overlaps tensor '{}' (data_offsets [{}, {}])", source,
                      shown(e.name), e.begin, e.end, shown(previous->name), previous->begin, previous->end));
    if (e.begin > expected)
      throw Error(kLoad, fmt::format("{}: offsets are not contiguous: buffer bytes [{}, {}) belong to no tensor "
                                     "(tensor '{}' starts at {})",
                                     source, expected, e.begin, shown(e.name), e.begin));
    if (e.end > buffer_size)
      throw Error(kLoad, fmt::format("{}: tensor '{}' ends at buffer byte {} but the buffer holds only {} bytes "
                                     "(truncated file?)",
                                     source, shown(e.name), e.end, buffer_size));
    expected = e.end;
    previous = &e;
  }
  TD_CHECK(expected == buffer_size, kLoad,
           fmt::format("{}: the tensors cover {} bytes but the buffer holds {}: {} trailing bytes", source, expected,
                       buffer_size, buffer_size - expected));
  return out;
}

// Closes a FILE* on scope exit.
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Reading

bool SafetensorsData::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
}

const Tensor& SafetensorsData::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string names;
  for (size_t i = 0; i < tensors.size() && i < 8; ++i) names += (i ? ", " : "") + tensors[i].first;
  if (tensors.size() > 8) names += fmt::format(", ... ({} in all)", tensors.size());
  throw Error("SafetensorsData::at", fmt::format("no tensor '{}'; the file holds: {}", name, names));
}

SafetensorsData parse_safetensors(const uint8_t* data, size_t size, const std::string& source_name) {
  const uint64_t n = check_header_length(data, size, source_name);
  const uint8_t* buffer = data + 8 + n;
  const uint64_t buffer_size = size - 8 - n;
  Header header = parse_header(data + 8, static_cast<size_t>(n), buffer_size, source_name);
  SafetensorsData out;
  out.metadata = std::move(header.metadata);
  out.tensors.reserve(header.entries.size());
  for (const Entry& e : header.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), buffer + e.begin, static_cast<size_t>(e.end - e.begin));
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsData load_safetensors(const std::string& path) {
  std::error_code ec;
  TD_CHECK(!std::filesystem::is_directory(path, ec), kLoad, fmt::format("{}: is a folder, not a file", path));
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    throw Error(kLoad, fmt::format("{}: cannot open: {}", path, std::strerror(err)));
  }
  std::FILE* f = file.get();
  TD_CHECK(fseeko(f, 0, SEEK_END) == 0, kLoad, fmt::format("{}: cannot seek: {}", path, std::strerror(errno)));
  const off_t end = ftello(f);
  TD_CHECK(end >= 0 && fseeko(f, 0, SEEK_SET) == 0, kLoad,
           fmt::format("{}: cannot seek: {}", path, std::strerror(errno)));
  const uint64_t file_size = static_cast<uint64_t>(end);

  auto read_exact = [&](void* dst, uint64_t bytes, const char* what) {
    if (bytes == 0) return;
    const size_t got = std::fread(dst, 1, static_cast<size_t>(bytes), f);
    TD_CHECK(got == bytes, kLoad,
             fmt::format("{}: short read of the {} ({} of {} bytes; was the file changed while reading?)", path, what,
                         got, bytes));
  };
  uint8_t first8[8] = {};
  if (file_size >= 8) read_exact(first8, 8, "header length");
  const uint64_t n = check_header_length(first8, file_size, path);
  std::vector<uint8_t> text(static_cast<size_t>(n));  // n <= 100 MB and <= the file size
  read_exact(text.data(), n, "header");
  Header header = parse_header(text.data(), text.size(), file_size - 8 - n, path);
  text = {};

  // Validated: now allocate each tensor and read its bytes straight into it, in buffer order.
  SafetensorsData out;
  out.metadata = std::move(header.metadata);
  out.tensors.reserve(header.entries.size());
  for (const Entry& e : header.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    read_exact(e.end > e.begin ? t.raw_data() : nullptr, e.end - e.begin, "tensor data");
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writing

std::string serialize_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    TD_CHECK(name != "__metadata__", kSave, "the tensor name '__metadata__' is reserved for the metadata");
    TD_CHECK(valid_utf8(name), kSave, "a tensor name is not valid UTF-8");
    TD_CHECK(seen.insert(name).second, kSave, fmt::format("duplicate tensor name '{}'", name));
    TD_CHECK(t.defined(), kSave, fmt::format("tensor '{}' is undefined", name));
  }
  for (const auto& [key, value] : metadata)
    TD_CHECK(valid_utf8(key) && valid_utf8(value), kSave,
             fmt::format("metadata entry for key '{}' is not valid UTF-8", valid_utf8(key) ? key : "?"));

  // Largest element size first, then by name: every tensor is aligned to its element size.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int64_t sa = dtype_size(tensors[a].second.dtype()), sb = dtype_size(tensors[b].second.dtype());
    return sa != sb ? sa > sb : tensors[a].first < tensors[b].first;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (size_t i : order) {
    const Tensor& t = tensors[i].second;
    const uint64_t bytes = static_cast<uint64_t>(t.numel() * dtype_size(t.dtype()));
    header[tensors[i].first] = {
        {"dtype", safetensors_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + static_cast<size_t>(offset));
  const uint64_t n = text.size();
  char length[8];
  std::memcpy(length, &n, 8);
  out.append(length, 8);
  out += text;
  for (size_t i : order) {
    const Tensor t = tensors[i].second.contiguous();
    const size_t bytes = static_cast<size_t>(t.numel() * dtype_size(t.dtype()));
    if (bytes > 0) out.append(static_cast<const char*>(t.raw_data()), bytes);
  }
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace tinydiff
