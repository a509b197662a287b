// The Tensor class: storage, layout, element access and copies (views: tensor_views.cpp). See tensor_core.h.
#include "tensor/tensor_core.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

#include "tensor/dispatch.h"

namespace tinydiff {

Error::Error(std::string_view op, std::string_view message)
    : std::runtime_error(fmt::format("{}: {}", op, message)), op_(op) {}

int num_threads() { return omp_get_max_threads(); }

int64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::I64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "float32";
    case DType::F64:
      return "float64";
    case DType::I64:
      return "int64";
  }
  return "?";
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    TD_CHECK(d >= 0, "shape", fmt::format("negative extent in {}", shape_str(shape)));
    TD_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, "shape",
             fmt::format("element count of {} overflows int64", shape_str(shape)));
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

// ---------------------------------------------------------------------------------------
// Construction

Tensor::Tensor(std::shared_ptr<Storage> storage, DType dtype, Shape shape, Shape strides, int64_t offset)
    : storage_(std::move(storage)),
      dtype_(dtype),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      numel_(shape_numel(shape_)) {}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  check_defined(base, "view");
  TD_CHECK(shape.size() == strides.size(), "view", "shape and strides differ in rank");
  // Bounds: the lowest and highest element addressed must lie inside the storage.
  int64_t lo = offset, hi = offset;
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) empty = true;
    if (shape[i] <= 0) continue;
    const int64_t span = (shape[i] - 1) * strides[i];
    if (span < 0)
      lo += span;
    else
      hi += span;
  }
  const int64_t capacity = base.storage()->bytes() / dtype_size(base.dtype());
  TD_CHECK(empty || (lo >= 0 && hi < std::max<int64_t>(capacity, 1)), "view",
           fmt::format("view {} with strides {} at offset {} falls outside storage of {} elements", shape_str(shape),
                       shape_str(strides), offset, capacity));
  return Tensor(base.storage(), base.dtype(), std::move(shape), std::move(strides), offset);
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const int64_t n = shape_numel(shape);
  TD_CHECK(n <= std::numeric_limits<int64_t>::max() / 8, "empty", "tensor too large");
  auto storage = std::make_shared<Storage>(n * dtype_size(dtype));
  return Tensor(std::move(storage), dtype, shape, contiguous_strides(shape), 0);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.numel() > 0) std::memset(t.raw_data(), 0, static_cast<size_t>(t.numel() * dtype_size(dtype)));
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  TD_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "from_vector",
           fmt::format("{} values given for shape {} ({} elements)", values.size(), shape_str(shape), t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::F32:
        t.data<float>()[i] = static_cast<float>(values[i]);
        break;
      case DType::F64:
        t.data<double>()[i] = values[i];
        break;
      case DType::I64:
        t.data<int64_t>()[i] = static_cast<int64_t>(values[i]);
        break;
    }
  }
  return t;
}

Tensor Tensor::from_indices(const std::vector<int64_t>& values, const Shape& shape) {
  Tensor t = empty(shape, DType::I64);
  TD_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "from_indices",
           fmt::format("{} values given for shape {} ({} elements)", values.size(), shape_str(shape), t.numel()));
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::arange(double start, double end, double step, DType dtype) {
  TD_CHECK(step != 0.0, "arange", "step must be non-zero");
  const double count = std::ceil((end - start) / step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) t.set({i}, start + static_cast<double>(i) * step);
  return t;
}

// ---------------------------------------------------------------------------------------
// Metadata and access

void check_defined(const Tensor& t, const char* op) {
  TD_CHECK(t.defined(), op, "the tensor is undefined (default-constructed); give it a value first");
}

void check_floating(const Tensor& t, const char* op) {
  check_defined(t, op);
  TD_CHECK(t.dtype() != DType::I64, op,
           fmt::format("expected a float32 or float64 tensor, got int64 with shape {}", shape_str(t.shape())));
}

int64_t Tensor::normalize_axis(int64_t axis, const char* op) const {
  const int64_t n = dim();
  TD_CHECK(axis >= -n && axis < n, op,
           fmt::format("axis {} is out of range for a tensor of shape {} (valid: {} to {})", axis, shape_str(shape_),
                       -n, n - 1));
  return axis < 0 ? axis + n : axis;
}

int64_t Tensor::size(int64_t axis) const { return shape_[normalize_axis(axis, "size")]; }

bool Tensor::is_contiguous() const noexcept {
  // No elements: nothing to lay out (as PyTorch). Without this, shape (0, 0) with the strides
  // contiguous_strides gives it, (1, 1), failed the check below (a fuzz finding).
  for (int64_t d : shape_)
    if (d == 0) return true;
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  check_defined(*this, "data");
  return static_cast<char*>(storage_->data()) + offset_ * dtype_size(dtype_);
}

template <>
float* Tensor::data<float>() const {
  TD_CHECK(dtype_ == DType::F32, "data", fmt::format("asked for float32 data of a {} tensor", dtype_name(dtype_)));
  return static_cast<float*>(raw_data());
}
template <>
double* Tensor::data<double>() const {
  TD_CHECK(dtype_ == DType::F64, "data", fmt::format("asked for float64 data of a {} tensor", dtype_name(dtype_)));
  return static_cast<double*>(raw_data());
}
template <>
int64_t* Tensor::data<int64_t>() const {
  TD_CHECK(dtype_ == DType::I64, "data", fmt::format("asked for int64 data of a {} tensor", dtype_name(dtype_)));
  return static_cast<int64_t*>(raw_data());
}

namespace {
// Element offset (relative to offset_) of a full index, bounds-checked.
int64_t element_offset(const Tensor& t, const std::vector<int64_t>& index, const char* op) {
  TD_CHECK(static_cast<int64_t>(index.size()) == t.dim(), op,
           fmt::format("index has {} entries for a tensor of shape {}", index.size(), shape_str(t.shape())));
  int64_t off = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    TD_CHECK(index[i] >= 0 && index[i] < t.shape()[i], op,
             fmt::format("index {} is out of range on axis {} of shape {}", index[i], i, shape_str(t.shape())));
    off += index[i] * t.strides()[i];
  }
  return off;
}

double read_at(const Tensor& t, int64_t off) {
  const char* base = static_cast<const char*>(t.raw_data());
  switch (t.dtype()) {
    case DType::F32:
      return reinterpret_cast<const float*>(base)[off];
    case DType::F64:
      return reinterpret_cast<const double*>(base)[off];
    case DType::I64:
      return static_cast<double>(reinterpret_cast<const int64_t*>(base)[off]);
  }
  return 0.0;
}

void write_at(const Tensor& t, int64_t off, double v) {
  char* base = static_cast<char*>(t.raw_data());
  switch (t.dtype()) {
    case DType::F32:
      reinterpret_cast<float*>(base)[off] = static_cast<float>(v);
      break;
    case DType::F64:
      reinterpret_cast<double*>(base)[off] = v;
      break;
    case DType::I64:
      reinterpret_cast<int64_t*>(base)[off] = static_cast<int64_t>(v);
      break;
  }
}

// Calls f(src_offset, dst_linear_index) for every element of `t` in row-major order.
template <typename F>
void for_each_offset(const Tensor& t, F&& f) {
  const int64_t n = t.numel(), nd = t.dim();
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(off, i);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) {
        off += t.strides()[d];
        break;
      }
      off -= (idx[d] - 1) * t.strides()[d];
      idx[d] = 0;
    }
  }
}
}  // namespace

double Tensor::at(const std::vector<int64_t>& index) const {
  return read_at(*this, element_offset(*this, index, "at"));
}

void Tensor::set(const std::vector<int64_t>& index, double value) {
  write_at(*this, element_offset(*this, index, "set"), value);
}

double Tensor::item() const {
  check_defined(*this, "item");
  TD_CHECK(numel_ == 1, "item", fmt::format("expected a tensor with one element, got shape {}", shape_str(shape_)));
  return read_at(*this, 0);
}

std::vector<double> Tensor::to_vector() const {
  check_defined(*this, "to_vector");
  std::vector<double> out(static_cast<size_t>(numel_));
  for_each_offset(*this, [&](int64_t off, int64_t i) { out[static_cast<size_t>(i)] = read_at(*this, off); });
  return out;
}

// ---------------------------------------------------------------------------------------
// Copies

namespace {
// Copies `src` into `dst` (same shape and dtype, any strides). Extent-1 axes are dropped and
// an axis is merged into the next inner one when both tensors step over it evenly, so rows are
// as long as possible; rows are then copied in parallel (each destination row by one thread).
template <typename T>
void strided_copy(const Tensor& dst, const Tensor& src) {
  Shape sh, sd, ss;
  for (int64_t i = 0; i < dst.dim(); ++i) {
    if (dst.shape()[i] == 1) continue;
    sh.push_back(dst.shape()[i]);
    sd.push_back(dst.strides()[i]);
    ss.push_back(src.strides()[i]);
  }
  if (sh.empty()) sh = sd = ss = {1};                 // a single element
  Shape mh{sh.back()}, md{sd.back()}, ms{ss.back()};  // merged axes, innermost first
  for (int64_t i = static_cast<int64_t>(sh.size()) - 2; i >= 0; --i) {
    if (sd[i] == md.back() * mh.back() && ss[i] == ms.back() * mh.back()) {
      mh.back() *= sh[i];
    } else {
      mh.push_back(sh[i]);
      md.push_back(sd[i]);
      ms.push_back(ss[i]);
    }
  }
  std::reverse(mh.begin(), mh.end());
  std::reverse(md.begin(), md.end());
  std::reverse(ms.begin(), ms.end());
  const int64_t nd = static_cast<int64_t>(mh.size());
  const int64_t len = mh.back(), ld = md.back(), ls = ms.back(), rows = dst.numel() / len;
  T* pd = static_cast<T*>(dst.raw_data());
  const T* ps = static_cast<const T*>(src.raw_data());
  parallel_for(rows, len, [&](int64_t r0, int64_t r1) {
    // Offsets of row r0, then an odometer over the outer axes.
    int64_t idx[16] = {0};
    std::vector<int64_t> big_idx(nd > 16 ? static_cast<size_t>(nd) : 0, 0);
    int64_t* id = nd > 16 ? big_idx.data() : idx;
    int64_t od = 0, os = 0, rem = r0;
    for (int64_t a = nd - 2; a >= 0; --a) {
      id[a] = rem % mh[a];
      rem /= mh[a];
      od += id[a] * md[a];
      os += id[a] * ms[a];
    }
    for (int64_t r = r0; r < r1; ++r) {
      if (ld == 1 && ls == 1) {
        std::memcpy(pd + od, ps + os, static_cast<size_t>(len) * sizeof(T));
      } else if (ld == 1 && ls == 0) {
        std::fill(pd + od, pd + od + len, ps[os]);
      } else {
        for (int64_t j = 0; j < len; ++j) pd[od + j * ld] = ps[os + j * ls];
      }
      for (int64_t a = nd - 2; a >= 0; --a) {
        if (++id[a] < mh[a]) {
          od += md[a];
          os += ms[a];
          break;
        }
        od -= (id[a] - 1) * md[a];
        os -= (id[a] - 1) * ms[a];
        id[a] = 0;
      }
    }
  });
}

// True when the element ranges of a and b in their (shared) storage intersect.
bool may_overlap(const Tensor& a, const Tensor& b) {
  if (a.storage() != b.storage()) return false;
  auto range = [](const Tensor& t) {
    int64_t lo = t.offset(), hi = t.offset();
    for (int64_t d = 0; d < t.dim(); ++d) {
      const int64_t span = (t.shape()[d] - 1) * t.strides()[d];
      (span < 0 ? lo : hi) += span;
    }
    return std::pair<int64_t, int64_t>{lo * dtype_size(t.dtype()), (hi + 1) * dtype_size(t.dtype())};
  };
  const auto [alo, ahi] = range(a);
  const auto [blo, bhi] = range(b);
  return alo < bhi && blo < ahi;
}
}  // namespace

void Tensor::copy_(const Tensor& src) {
  check_defined(*this, "copy_");
  check_defined(src, "copy_");
  const Tensor s = src.dim() == dim() && src.shape() == shape_ ? src : src.expand(shape_);
  if (numel_ == 0) return;
  if (dtype_ == s.dtype() && is_contiguous() && s.is_contiguous()) {
    if (raw_data() != s.raw_data())
      std::memmove(raw_data(), s.raw_data(), static_cast<size_t>(numel_ * dtype_size(dtype_)));
    return;
  }
  if (dtype_ == s.dtype()) {
    // Same dtype, strided: row copies. A source overlapping the destination (other than
    // exactly, handled above) is copied out first so that no element is read after it is written.
    const Tensor from = may_overlap(*this, s) && !(s.strides() == strides_ && s.offset() == offset_) ? s.clone() : s;
    if (dtype_size(dtype_) == 4)
      strided_copy<uint32_t>(*this, from);
    else
      strided_copy<uint64_t>(*this, from);
    return;
  }
  // Conversion between dtypes (rare: checkpoints, gradcheck). Gather source offsets in
  // row-major order, then write destination offsets in the same order.
  std::vector<int64_t> src_off(static_cast<size_t>(numel_));
  for_each_offset(s, [&](int64_t off, int64_t i) { src_off[static_cast<size_t>(i)] = off; });
  for_each_offset(*this,
                  [&](int64_t off, int64_t i) { write_at(*this, off, read_at(s, src_off[static_cast<size_t>(i)])); });
}

void Tensor::fill_(double value) {
  check_defined(*this, "fill_");
  if (is_contiguous()) {
    const int64_t n = numel_;
    switch (dtype_) {
      case DType::F32:
        std::fill_n(data<float>(), n, static_cast<float>(value));
        break;
      case DType::F64:
        std::fill_n(data<double>(), n, value);
        break;
      case DType::I64:
        std::fill_n(data<int64_t>(), n, static_cast<int64_t>(value));
        break;
    }
    return;
  }
  for_each_offset(*this, [&](int64_t off, int64_t) { write_at(*this, off, value); });
}

Tensor Tensor::contiguous() const {
  check_defined(*this, "contiguous");
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  check_defined(*this, "clone");
  Tensor out = empty(shape_, dtype_);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  check_defined(*this, "to");
  if (dtype == dtype_ && is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype);
  out.copy_(*this);
  return out;
}

}  // namespace tinydiff
