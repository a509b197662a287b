/// \file
/// \brief Reading and writing the safetensors format (Hugging Face), with full validation.
///
/// A safetensors file is
///
///     [8 bytes]  N, the header length: unsigned 64-bit, little-endian
///     [N bytes]  UTF-8 JSON: {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
///                             "__metadata__": {"step": "100", ...}}      (optional, strings only)
///                padded with spaces (0x20) so that N is a multiple of 8
///     [rest]     the byte buffer: every tensor little-endian and row-major at buffer[begin, end)
///
/// The tensors tile the buffer: sorted by offset they are contiguous from 0, never overlap,
/// and the last one ends exactly at the end of the file. tinydiff reads and writes the dtypes
/// "F32", "F64" and "I64". The format, and the checks below, follow the reference
/// implementation (https://github.com/huggingface/safetensors); tools/safetensors_np.py is a
/// numpy version used to write golden files from PyTorch.
///
/// **Validation before allocation.** A file is untrusted input. Every check runs on the header
/// before a single tensor is allocated: at least 8 bytes; a header length of at most 100 MB
/// that fits in the file; valid UTF-8; a JSON object without duplicate keys, nested at most
/// 32 levels deep; every entry with
/// exactly `dtype` (a known string), `shape` (at most 8 non-negative integers) and
/// `data_offsets` (two non-negative integers); an element count that does not overflow and,
/// times the element size, equals `end - begin`; offsets that tile the buffer; `__metadata__`
/// an object of strings. Each failure throws `tinydiff::Error` naming the file and the
/// problem, e.g.
///
///     load_safetensors: model.safetensors: tensor 'w' has data_offsets [0, 12] but shape (2, 2) float32 needs 16 bytes
///
/// Writing orders tensors by element size (largest first), then by name, as the reference
/// writer does, so every tensor is aligned to its element size within the buffer.
///
/// Usage:
/// \code
///   save_safetensors("w.safetensors", {{"weight", w}, {"bias", b}}, {{"step", "100"}});
///   SafetensorsData d = load_safetensors("w.safetensors");
///   const Tensor& weight = d.at("weight");
///   std::string step = d.metadata.at("step");
/// \endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Named tensors in a list (the order of a safetensors buffer or of a state dict).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// The contents of a safetensors file.
struct SafetensorsData {
  /// The tensors in buffer order (by data offset), each contiguous and owning its storage.
  NamedTensors tensors;
  /// The `__metadata__` strings (empty when the file has none).
  std::map<std::string, std::string> metadata;

  /// True when a tensor called `name` is present.
  bool contains(const std::string& name) const;
  /// The tensor called `name`; throws Error naming the missing tensor.
  const Tensor& at(const std::string& name) const;
};

/// Largest header accepted (the reference implementation's limit), in bytes.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;
/// Largest rank accepted.
inline constexpr size_t kSafetensorsMaxRank = 8;

/// Parses and validates a whole file held in memory. Pure: touches only `data[0, size)`,
/// which makes it the fuzzing entry point. `source_name` is used in error messages.
SafetensorsData parse_safetensors(const uint8_t* data, size_t size, const std::string& source_name);

/// Reads and validates the file at `path`. The header is validated before any tensor is
/// allocated; tensor bytes are then read straight into their storage.
SafetensorsData load_safetensors(const std::string& path);

/// The bytes of a safetensors file holding `tensors` (any layout; written row-major) and
/// `metadata`. Throws on duplicate names, the reserved name "__metadata__", undefined
/// tensors, or names and metadata that are not valid UTF-8.
std::string serialize_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});

/// Writes serialize_safetensors(tensors, metadata) to `path` atomically (see write_file_atomic):
/// readers see either the old file or the complete new one, never a partial file.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tinydiff
