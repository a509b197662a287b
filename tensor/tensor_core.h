/// \file
/// \brief The `Tensor` class: an N-d array of float32, float64 or int64 values.
///
/// A tensor is a view onto shared, 64-byte aligned storage, described by
///
/// - `shape`   the extent of each axis, e.g. `(B, C, H, W)`;
/// - `strides` how many *elements* to step in storage to move one along each axis;
/// - `offset`  where element `(0, 0, ..., 0)` lives in storage.
///
/// The element at index \f$(i_0, \dots, i_{n-1})\f$ lives at
/// \f$\mathrm{offset} + \sum_k i_k \, \mathrm{stride}_k\f$. A freshly made tensor is
/// *contiguous* (row-major: the last axis has stride 1). `reshape` of a contiguous tensor,
/// `permute`, `transpose`, `slice` and `expand` return views that share storage, so writing
/// through one is seen by the other; `contiguous()` and `clone()` make copies explicitly.
/// `expand` gives stride 0 to broadcast axes: every index along them reads the same value.
///
/// Float32 is the training dtype; float64 is for gradient checking. Every floating-point
/// kernel is a template instantiated for both. Int64 tensors carry indices (token ids,
/// class labels, timesteps, argmax results); arithmetic on them is rejected with an Error.
///
/// Usage:
/// \code
///   Tensor x = Tensor::zeros({2, 3});                 // float32, contiguous
///   Tensor xt = x.transpose(0, 1);                    // (3, 2) view, not contiguous
///   Tensor y = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64);
///   double v = y.at({1, 2});                          // 6
/// \endcode
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace tinydiff {

/// Extents of a tensor's axes, outermost first.
using Shape = std::vector<int64_t>;

/// Element type of a tensor.
enum class DType { F32, F64, I64 };

/// Size of one element in bytes.
int64_t dtype_size(DType dtype);
/// "float32", "float64" or "int64".
const char* dtype_name(DType dtype);
/// Number of elements of a shape (1 for a 0-d shape); throws on negative extents or overflow.
int64_t shape_numel(const Shape& shape);
/// "(2, 3, 4)", the form every error message uses.
std::string shape_str(const Shape& shape);

/// A block of 64-byte aligned memory shared by a tensor and all its views.
///
/// Blocks come from a process-wide caching allocator: a freed block goes to a free list of
/// its size class (sizes rounded up to 64 bytes below 4 KiB, and to one of 8 steps per power
/// of two above, so at most 12.5% is wasted), and the next request of that class reuses it
/// without a system call or page faults. The cache is thread-safe (one mutex) and holds at
/// most `storage_cache_limit()` bytes (1 GiB by default; more freed memory goes back to the
/// system). Set the environment variable `TINYDIFF_STORAGE_CACHE=0` to turn it off (it is
/// always off under AddressSanitizer, so that use-after-free is still caught).
class Storage {
 public:
  /// Allocates `bytes` bytes, uninitialised. Throws tinydiff::Error when the allocation fails.
  explicit Storage(int64_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  /// Start of the block (nullptr when it holds 0 bytes).
  void* data() const noexcept { return data_; }
  /// Size in bytes, as requested.
  int64_t bytes() const noexcept { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
  int64_t capacity_ = 0;  // bytes of the block (the size class), >= bytes_
};

/// Counters of the storage cache (see Storage).
struct StorageCacheStats {
  int64_t cached_bytes = 0;  ///< bytes held in free lists, ready for reuse
  int64_t hits = 0;          ///< allocations served from the cache
  int64_t misses = 0;        ///< allocations that went to the system allocator
};
/// The current counters of the storage cache.
StorageCacheStats storage_cache_stats();
/// Returns every cached block to the system (live tensors are not affected).
void storage_cache_clear();
/// Sets the most bytes the cache may hold (0 turns caching off); frees blocks above it.
void set_storage_cache_limit(int64_t bytes);
/// The most bytes the cache may hold.
int64_t storage_cache_limit();

/// An N-d strided view onto shared storage. Copying a Tensor copies the view, not the data.
class Tensor {
 public:
  /// An undefined tensor (no storage). `defined()` is false; most operations reject it.
  Tensor() = default;

  // --- Factories (all return contiguous tensors) ---------------------------------------
  /// Uninitialised values.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  /// All zeros.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  /// All ones.
  static Tensor ones(const Shape& shape, DType dtype = DType::F32);
  /// Every element set to `value` (converted to the dtype).
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  /// A 0-d tensor holding `value`.
  static Tensor scalar(double value, DType dtype = DType::F32);
  /// Copies `values` (row-major) into a new tensor; `values.size()` must equal the shape's numel.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::F32);
  /// Int64 tensor from indices.
  static Tensor from_indices(const std::vector<int64_t>& values, const Shape& shape);
  /// `(n,)` tensor with values start, start+step, ... (n = ceil((end-start)/step)).
  static Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::F32);

  // --- Metadata ----------------------------------------------------------------------
  /// False for a default-constructed tensor (no storage).
  bool defined() const noexcept { return storage_ != nullptr; }
  /// Element type.
  DType dtype() const noexcept { return dtype_; }
  /// Extent of each axis, outermost first (empty for a 0-d tensor).
  const Shape& shape() const noexcept { return shape_; }
  /// Elements to step in storage per index along each axis (0 for broadcast axes).
  const Shape& strides() const noexcept { return strides_; }
  /// Position of element (0, ..., 0) in storage, in elements.
  int64_t offset() const noexcept { return offset_; }
  /// Number of axes.
  int64_t dim() const noexcept { return static_cast<int64_t>(shape_.size()); }
  /// Extent of `axis`; negative axes count from the end (-1 is the last).
  int64_t size(int64_t axis) const;
  /// Number of elements (the product of the extents; 1 for a 0-d tensor).
  int64_t numel() const noexcept { return numel_; }
  /// True when the view is row-major with no gaps (the last axis has stride 1, ...).
  bool is_contiguous() const noexcept;
  /// The shared storage (views of one tensor return the same pointer).
  const std::shared_ptr<Storage>& storage() const noexcept { return storage_; }

  /// Pointer to element (0, ..., 0), typed. Throws when T does not match dtype().
  template <typename T>
  T* data() const;
  /// Untyped pointer to element (0, ..., 0).
  void* raw_data() const;

  // --- Element access (slow; for tests, printing and small set-up code) ----------------
  /// Value at a full index, converted to double.
  double at(const std::vector<int64_t>& index) const;
  /// Writes `value` (converted to the dtype) at a full index.
  void set(const std::vector<int64_t>& index, double value);
  /// The single value of a tensor with numel() == 1.
  double item() const;
  /// All values in row-major order, converted to double.
  std::vector<double> to_vector() const;

  // --- Views (share storage) ---------------------------------------------------------
  /// Same data, new shape; one extent may be -1 (inferred). A view when the layout allows
  /// it (always for contiguous tensors), otherwise a contiguous copy, as in PyTorch.
  Tensor reshape(const Shape& shape) const;
  /// Like reshape but never copies: throws when the tensor is not contiguous.
  Tensor view(const Shape& shape) const;
  /// Reorders axes: result axis k is input axis `order[k]`.
  Tensor permute(const std::vector<int64_t>& order) const;
  /// Swaps two axes.
  Tensor transpose(int64_t axis0, int64_t axis1) const;
  /// Elements start, start+step, ... < end along `axis` (negative start/end count from the end).
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  /// Broadcasts size-1 axes (and new leading axes) to `shape` with stride 0. No copy.
  Tensor expand(const Shape& shape) const;
  /// Inserts a size-1 axis at `axis`.
  Tensor unsqueeze(int64_t axis) const;
  /// Removes `axis`, which must have extent 1.
  Tensor squeeze(int64_t axis) const;
  /// Collapses axes start..end (inclusive) into one (a view when possible).
  Tensor flatten(int64_t start_axis = 0, int64_t end_axis = -1) const;

  // --- Copies ------------------------------------------------------------------------
  /// This tensor if already contiguous, else a contiguous copy.
  Tensor contiguous() const;
  /// Always a new contiguous copy.
  Tensor clone() const;
  /// A contiguous copy converted to `dtype` (this tensor when the dtype already matches and it is contiguous).
  Tensor to(DType dtype) const;
  /// Copies `src` (broadcast to this shape, any dtype) into this tensor's elements, in place.
  void copy_(const Tensor& src);
  /// Sets every element to `value`, in place.
  void fill_(double value);

  /// Normalises a possibly negative axis against dim(); throws naming `op` when out of range.
  int64_t normalize_axis(int64_t axis, const char* op) const;

 private:
  Tensor(std::shared_ptr<Storage> storage, DType dtype, Shape shape, Shape strides, int64_t offset);
  friend Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
};

/// Row-major strides of a contiguous tensor of `shape`.
Shape contiguous_strides(const Shape& shape);
/// A view of `base`'s storage with the given layout (bounds are checked against the storage).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
/// Throws Error(op, ...) unless `t` is float32 or float64.
void check_floating(const Tensor& t, const char* op);
/// Throws Error(op, ...) unless `t` is defined.
void check_defined(const Tensor& t, const char* op);

/// Float32 data; throws unless dtype() is F32.
template <>
float* Tensor::data<float>() const;
/// Float64 data; throws unless dtype() is F64.
template <>
double* Tensor::data<double>() const;
/// Int64 data; throws unless dtype() is I64.
template <>
int64_t* Tensor::data<int64_t>() const;

}  // namespace tinydiff
