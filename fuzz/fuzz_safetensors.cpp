// libFuzzer target over the safetensors reader: parse_safetensors (in memory) and
// load_safetensors (the streaming file reader, through a memfd). Besides "no crash, no
// sanitizer finding, no exception other than tinydiff::Error", it checks:
//   - both readers agree: the same tensors, or the same error message;
//   - an error message names the op and the file and is one short line;
//   - an accepted file round-trips: serialize_safetensors of what was read reads back the same.
// Allocation limits are enforced by libFuzzer's -malloc_limit_mb (see scripts/fuzz).
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "fuzz/fuzz_io.h"
#include "nn/safetensors.h"
#include "tensor/error.h"

using namespace tinydiff;

namespace {

// Every byte of a tensor list and metadata, keyed by name (order-independent).
std::map<std::string, std::string> contents(const SafetensorsData& d) {
  std::map<std::string, std::string> out;
  for (const auto& [name, t] : d.tensors) {
    if (!t.is_contiguous()) fuzz::fail("tensor '" + name + "' is not contiguous");
    std::string bytes = std::string(dtype_name(t.dtype())) + shape_str(t.shape());
    bytes.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel() * dtype_size(t.dtype())));
    if (!out.emplace("t:" + name, bytes).second) fuzz::fail("duplicate tensor name '" + name + "' accepted");
  }
  for (const auto& [key, value] : d.metadata) out.emplace("m:" + key, value);
  return out;
}

// A message must start with "load_safetensors: <source>: ", be one line and stay short.
void check_message(const std::string& message, const std::string& source) {
  const std::string prefix = "load_safetensors: " + source + ": ";
  if (message.compare(0, prefix.size(), prefix) != 0) fuzz::fail("message lacks the op and file: " + message);
  if (message.size() == prefix.size()) fuzz::fail("empty message");
  if (message.find('\n') != std::string::npos) fuzz::fail("message spans lines: " + message);
  if (message.size() > 1024) fuzz::fail("message of " + std::to_string(message.size()) + " characters");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file;
  file.write(data, size);
  const std::string& source = file.path();  // the same name for both readers: same messages

  std::string parse_error, load_error;
  SafetensorsData parsed, loaded;
  try {
    parsed = parse_safetensors(data, size, source);
  } catch (const Error& e) {
    parse_error = e.what();
    check_message(parse_error, source);
  }
  try {
    loaded = load_safetensors(source);
  } catch (const Error& e) {
    load_error = e.what();
    check_message(load_error, source);
  }
  if (parse_error != load_error)
    fuzz::fail("parse_safetensors and load_safetensors disagree:\n  parse: " + parse_error +
               "\n  load:  " + load_error);
  if (!parse_error.empty()) return 0;

  const auto expected = contents(parsed);
  if (contents(loaded) != expected) fuzz::fail("parse_safetensors and load_safetensors read different contents");

  // Round trip: what was read writes and reads back unchanged.
  const std::string again = serialize_safetensors(parsed.tensors, parsed.metadata);
  const SafetensorsData reparsed =
      parse_safetensors(reinterpret_cast<const uint8_t*>(again.data()), again.size(), "round trip");
  if (contents(reparsed) != expected) fuzz::fail("round trip changed the contents");
  return 0;
}
