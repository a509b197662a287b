// Views of a Tensor: reshape, view, permute, transpose, slice, expand, unsqueeze, squeeze,
// flatten. They share the storage and only compute new shapes, strides and offsets. See tensor_core.h.
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "tensor/tensor_core.h"

namespace tinydiff {

namespace {
Shape infer_shape(const Shape& shape, int64_t numel, const Shape& from, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TD_CHECK(infer < 0, op, fmt::format("only one extent may be -1, got {}", shape_str(shape)));
      infer = static_cast<int64_t>(i);
    } else {
      TD_CHECK(out[i] >= 0, op, fmt::format("negative extent in {}", shape_str(shape)));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TD_CHECK(known > 0 && numel % known == 0, op,
             fmt::format("cannot reshape {} ({} elements) to {}", shape_str(from), numel, shape_str(shape)));
    out[infer] = numel / known;
  }
  TD_CHECK(shape_numel(out) == numel, op,
           fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", shape_str(from), numel, shape_str(shape),
                       shape_numel(out)));
  return out;
}

// Strides that let `t`'s data be seen with `shape` without copying, or empty when impossible
// (the algorithm of PyTorch's computeStride: split/merge runs of axes that are contiguous
// with each other).
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  if (t.numel() == 0 || t.dim() == 0 || shape.empty()) {
    if (t.is_contiguous()) return contiguous_strides(shape);
    if (t.numel() <= 1) return contiguous_strides(shape);
    return std::nullopt;
  }
  Shape out(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = t.strides().back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    tensor_numel *= t.shape()[d];
    if (d == 0 || (t.shape()[d - 1] != 1 && t.strides()[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = t.strides()[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}
}  // namespace

Tensor Tensor::reshape(const Shape& shape) const {
  check_defined(*this, "reshape");
  const Shape target = infer_shape(shape, numel_, shape_, "reshape");
  if (auto strides = view_strides(*this, target)) return make_view(*this, target, *strides, offset_);
  return contiguous().view(target);
}

Tensor Tensor::view(const Shape& shape) const {
  check_defined(*this, "view");
  const Shape target = infer_shape(shape, numel_, shape_, "view");
  auto strides = view_strides(*this, target);
  TD_CHECK(strides.has_value(), "view",
           fmt::format("a tensor of shape {} with strides {} cannot be viewed as {}; call contiguous() or "
                       "reshape() instead",
                       shape_str(shape_), shape_str(strides_), shape_str(target)));
  return make_view(*this, target, *strides, offset_);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  check_defined(*this, "permute");
  TD_CHECK(static_cast<int64_t>(order.size()) == dim(), "permute",
           fmt::format("order has {} axes for a tensor of shape {}", order.size(), shape_str(shape_)));
  Shape s(order.size()), st(order.size());
  std::vector<bool> seen(order.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t a = normalize_axis(order[i], "permute");
    TD_CHECK(!seen[a], "permute", fmt::format("axis {} appears twice in the order", a));
    seen[a] = true;
    s[i] = shape_[a];
    st[i] = strides_[a];
  }
  return make_view(*this, s, st, offset_);
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const {
  check_defined(*this, "transpose");
  const int64_t a = normalize_axis(axis0, "transpose"), b = normalize_axis(axis1, "transpose");
  Shape s = shape_, st = strides_;
  std::swap(s[a], s[b]);
  std::swap(st[a], st[b]);
  return make_view(*this, s, st, offset_);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  check_defined(*this, "slice");
  const int64_t a = normalize_axis(axis, "slice");
  TD_CHECK(step > 0, "slice", fmt::format("step must be positive, got {}", step));
  const int64_t n = shape_[a];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape_, st = strides_;
  s[a] = (end - start + step - 1) / step;
  st[a] = strides_[a] * step;
  return make_view(*this, s, st, offset_ + start * strides_[a]);
}

Tensor Tensor::expand(const Shape& shape) const {
  check_defined(*this, "expand");
  TD_CHECK(shape.size() >= shape_.size(), "expand",
           fmt::format("cannot expand {} to fewer axes {}", shape_str(shape_), shape_str(shape)));
  const size_t lead = shape.size() - shape_.size();
  Shape st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) continue;
    const int64_t have = shape_[i - lead];
    if (have == shape[i]) {
      st[i] = strides_[i - lead];
    } else {
      TD_CHECK(have == 1, "expand",
               fmt::format("cannot expand {} to {}: axis {} has extent {} (only extent 1 can be expanded)",
                           shape_str(shape_), shape_str(shape), i, have));
    }
  }
  return make_view(*this, shape, st, offset_);
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  check_defined(*this, "unsqueeze");
  const int64_t n = dim() + 1;
  TD_CHECK(axis >= -n && axis < n, "unsqueeze",
           fmt::format("axis {} out of range for inserting into shape {}", axis, shape_str(shape_)));
  if (axis < 0) axis += n;
  Shape s = shape_, st = strides_;
  const int64_t stride = axis < dim() ? strides_[axis] * shape_[axis] : 1;
  s.insert(s.begin() + axis, 1);
  st.insert(st.begin() + axis, stride);
  return make_view(*this, s, st, offset_);
}

Tensor Tensor::squeeze(int64_t axis) const {
  check_defined(*this, "squeeze");
  const int64_t a = normalize_axis(axis, "squeeze");
  TD_CHECK(shape_[a] == 1, "squeeze",
           fmt::format("axis {} of shape {} has extent {}, not 1", axis, shape_str(shape_), shape_[a]));
  Shape s = shape_, st = strides_;
  s.erase(s.begin() + a);
  st.erase(st.begin() + a);
  return make_view(*this, s, st, offset_);
}

Tensor Tensor::flatten(int64_t start_axis, int64_t end_axis) const {
  check_defined(*this, "flatten");
  if (dim() == 0) return reshape({1});
  const int64_t a = normalize_axis(start_axis, "flatten"), b = normalize_axis(end_axis, "flatten");
  TD_CHECK(a <= b, "flatten", fmt::format("start axis {} is after end axis {}", start_axis, end_axis));
  Shape s(shape_.begin(), shape_.begin() + a);
  int64_t m = 1;
  for (int64_t i = a; i <= b; ++i) m *= shape_[i];
  s.push_back(m);
  s.insert(s.end(), shape_.begin() + b + 1, shape_.end());
  return reshape(s);
}

}  // namespace tinydiff
