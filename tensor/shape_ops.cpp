// Data movement: pad, unpad, concat, split, stack, index_select, gather, one_hot. See shape_ops.h.
#include "tensor/shape_ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "tensor/dispatch.h"

namespace tinydiff {

namespace {

/// Calls f(float{}), f(double{}) or f(int64_t{}): data movement works for every dtype.
template <typename F>
void dispatch_any(DType dtype, F&& f) {
  switch (dtype) {
    case DType::F32:
      f(float{});
      return;
    case DType::F64:
      f(double{});
      return;
    case DType::I64:
      f(int64_t{});
      return;
  }
}

/// Copies `src` into `dst` (same shape and dtype, any strides, e.g. a slice of a larger
/// tensor). Axes that are contiguous in both are merged so rows are long, then rows are
/// copied in parallel (each destination row written by one thread).
void copy_strided(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  // Drop extent-1 axes, then merge axis i into i+1 when both tensors step over it evenly.
  Shape sh, sd, ss;
  for (int64_t i = 0; i < dst.dim(); ++i) {
    if (dst.shape()[i] == 1) continue;
    sh.push_back(dst.shape()[i]);
    sd.push_back(dst.strides()[i]);
    ss.push_back(src.strides()[i]);
  }
  if (sh.empty()) {  // a single element
    sh = {1};
    sd = {1};
    ss = {1};
  }
  Shape mh{sh.back()}, md{sd.back()}, ms{ss.back()};  // merged, innermost first
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
  dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pd = static_cast<T*>(dst.raw_data());
    const T* ps = static_cast<const T*>(src.raw_data());
    parallel_for(rows, len, [&](int64_t r0, int64_t r1) {
      // Offsets of row r0, then an odometer over the outer axes.
      std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
      int64_t od = 0, os = 0, rem = r0;
      for (int64_t a = nd - 2; a >= 0; --a) {
        idx[a] = rem % mh[a];
        rem /= mh[a];
        od += idx[a] * md[a];
        os += idx[a] * ms[a];
      }
      for (int64_t r = r0; r < r1; ++r) {
        if (ld == 1 && ls == 1) {
          std::memcpy(pd + od, ps + os, static_cast<size_t>(len) * sizeof(T));
        } else {
          for (int64_t j = 0; j < len; ++j) pd[od + j * ld] = ps[os + j * ls];
        }
        for (int64_t a = nd - 2; a >= 0; --a) {
          if (++idx[a] < mh[a]) {
            od += md[a];
            os += ms[a];
            break;
          }
          od -= (idx[a] - 1) * md[a];
          os -= (idx[a] - 1) * ms[a];
          idx[a] = 0;
        }
      }
    });
  });
}

/// Checks pads (even count, at most two per axis, non-negative) for pad/unpad.
void check_pads(const char* op, const Tensor& x, const std::vector<int64_t>& pads) {
  check_defined(x, op);
  TD_CHECK(pads.size() % 2 == 0, op, fmt::format("pads must hold (before, after) pairs, got {} values", pads.size()));
  TD_CHECK(static_cast<int64_t>(pads.size()) / 2 <= x.dim(), op,
           fmt::format("{} pad pairs given for a tensor of shape {}", pads.size() / 2, shape_str(x.shape())));
  for (int64_t p : pads) TD_CHECK(p >= 0, op, fmt::format("pads must be non-negative, got {}", p));
}

/// Validates every entry of an int64 index tensor against [0, extent).
void check_indices(const char* op, const Tensor& index, int64_t extent, int64_t axis, const Shape& shape) {
  const Tensor ic = index.contiguous();
  const int64_t* pi = ic.data<int64_t>();
  for (int64_t i = 0; i < ic.numel(); ++i)
    TD_CHECK(pi[i] >= 0 && pi[i] < extent, op,
             fmt::format("index {} is out of range for axis {} with extent {} (shape {})", pi[i], axis, extent,
                         shape_str(shape)));
}

void check_index_dtype(const char* op, const Tensor& index) {
  check_defined(index, op);
  TD_CHECK(
      index.dtype() == DType::I64, op,
      fmt::format("index must be int64, got {} with shape {}", dtype_name(index.dtype()), shape_str(index.shape())));
}

int64_t normalize(int64_t axis, int64_t rank, const char* op, const Shape& shape) {
  TD_CHECK(
      axis >= -rank && axis < rank, op,
      fmt::format("axis {} is out of range for shape {} (valid: {} to {})", axis, shape_str(shape), -rank, rank - 1));
  return axis < 0 ? axis + rank : axis;
}

int64_t prod(const Shape& s, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t i = begin; i < end; ++i) n *= s[i];
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// pad / unpad

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  check_pads("pad", x, pads);
  Shape out_shape = x.shape();
  for (size_t k = 0; k < pads.size() / 2; ++k) out_shape[x.dim() - 1 - k] += pads[2 * k] + pads[2 * k + 1];
  Tensor out = Tensor::full(out_shape, value, x.dtype());
  Tensor interior = out;  // the window of `out` that x fills
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t axis = x.dim() - 1 - static_cast<int64_t>(k);
    interior = interior.slice(axis, pads[2 * k], pads[2 * k] + x.shape()[axis]);
  }
  copy_strided(interior, x);
  return out;
}

Tensor unpad(const Tensor& x, const std::vector<int64_t>& pads) {
  check_pads("unpad", x, pads);
  Tensor window = x;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t axis = x.dim() - 1 - static_cast<int64_t>(k);
    const int64_t n = x.shape()[axis];
    TD_CHECK(pads[2 * k] + pads[2 * k + 1] <= n, "unpad",
             fmt::format("cannot crop {} + {} from axis {} of extent {} (shape {})", pads[2 * k], pads[2 * k + 1], axis,
                         n, shape_str(x.shape())));
    window = window.slice(axis, pads[2 * k], n - pads[2 * k + 1]);
  }
  Tensor out = Tensor::empty(window.shape(), x.dtype());  // a fresh copy, not a view
  copy_strided(out, window);
  return out;
}

// ---------------------------------------------------------------------------------------
// concat / split / stack

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  TD_CHECK(!xs.empty(), "concat", "expected at least one tensor");
  for (const Tensor& t : xs) check_defined(t, "concat");
  const Tensor& ref = xs[0];
  TD_CHECK(ref.dim() >= 1, "concat", "cannot concatenate 0-d tensors; unsqueeze them or use stack");
  const int64_t ax = ref.normalize_axis(axis, "concat");
  Shape out_shape = ref.shape();
  out_shape[ax] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    TD_CHECK(t.dtype() == ref.dtype(), "concat",
             fmt::format("tensor {} is {} but tensor 0 is {}", i, dtype_name(t.dtype()), dtype_name(ref.dtype())));
    bool same = t.dim() == ref.dim();
    for (int64_t d = 0; same && d < ref.dim(); ++d) same = d == ax || t.shape()[d] == ref.shape()[d];
    TD_CHECK(same, "concat",
             fmt::format("tensor {} has shape {} but tensor 0 has {}; all axes except {} must agree", i,
                         shape_str(t.shape()), shape_str(ref.shape()), ax));
    out_shape[ax] += t.shape()[ax];
  }
  Tensor out = Tensor::empty(out_shape, ref.dtype());
  int64_t at = 0;
  for (const Tensor& t : xs) {
    copy_strided(out.slice(ax, at, at + t.shape()[ax]), t);
    at += t.shape()[ax];
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  check_defined(x, "split");
  const int64_t ax = x.normalize_axis(axis, "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    TD_CHECK(s >= 0, "split", fmt::format("sizes must be non-negative, got {}", s));
    total += s;
  }
  TD_CHECK(total == x.shape()[ax], "split",
           fmt::format("sizes sum to {} but axis {} of shape {} has extent {}", total, ax, shape_str(x.shape()),
                       x.shape()[ax]));
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    parts.push_back(x.slice(ax, at, at + s));
    at += s;
  }
  return parts;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t axis) {
  TD_CHECK(!xs.empty(), "stack", "expected at least one tensor");
  for (const Tensor& t : xs) check_defined(t, "stack");
  const Shape& ref = xs[0].shape();
  for (size_t i = 1; i < xs.size(); ++i)
    TD_CHECK(xs[i].shape() == ref, "stack",
             fmt::format("tensor {} has shape {} but tensor 0 has {}; stacked tensors must have equal shapes", i,
                         shape_str(xs[i].shape()), shape_str(ref)));
  const int64_t rank = static_cast<int64_t>(ref.size()) + 1;
  const int64_t ax = normalize(axis, rank, "stack", ref);
  std::vector<Tensor> us;
  us.reserve(xs.size());
  for (const Tensor& t : xs) us.push_back(t.unsqueeze(ax));
  return concat(us, ax);
}

// ---------------------------------------------------------------------------------------
// index_select

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  check_defined(x, "index_select");
  check_index_dtype("index_select", index);
  TD_CHECK(index.dim() <= 1, "index_select",
           fmt::format("index must be 0-d or 1-d, got shape {}; flatten it first", shape_str(index.shape())));
  const int64_t ax = x.normalize_axis(axis, "index_select");
  check_indices("index_select", index, x.shape()[ax], ax, x.shape());
  const Tensor xc = x.contiguous();      // (outer, extent, inner)
  const Tensor ic = index.contiguous();  // (n)
  const int64_t outer = prod(x.shape(), 0, ax), extent = x.shape()[ax], inner = prod(x.shape(), ax + 1, x.dim());
  const int64_t n = ic.numel();
  Shape out_shape = x.shape();
  out_shape[ax] = n;
  Tensor out = Tensor::empty(out_shape, x.dtype());  // (outer, n, inner)
  const int64_t* pi = ic.data<int64_t>();
  dispatch_any(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(xc.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    parallel_for(outer * n, inner, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r / n, k = r % n;
        std::memcpy(po + r * inner, px + (o * extent + pi[k]) * inner, static_cast<size_t>(inner) * sizeof(T));
      }
    });
  });
  return out;
}

Tensor index_select_backward(const Tensor& grad, int64_t axis, const Tensor& index, const Shape& input_shape) {
  const char* op = "index_select_backward";
  check_floating(grad, op);
  check_index_dtype(op, index);
  TD_CHECK(index.dim() <= 1, op, fmt::format("index must be 0-d or 1-d, got shape {}", shape_str(index.shape())));
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  const int64_t ax = normalize(axis, rank, op, input_shape);
  const int64_t n = index.numel();
  Shape expect = input_shape;
  expect[ax] = n;
  TD_CHECK(grad.shape() == expect, op,
           fmt::format("grad has shape {} but index_select of {} with {} indices gives {}", shape_str(grad.shape()),
                       shape_str(input_shape), n, shape_str(expect)));
  check_indices(op, index, input_shape[ax], ax, input_shape);
  const Tensor gc = grad.contiguous();  // (outer, n, inner)
  const Tensor ic = index.contiguous();
  const int64_t outer = prod(input_shape, 0, ax), extent = input_shape[ax], inner = prod(input_shape, ax + 1, rank);
  Tensor dx = Tensor::zeros(input_shape, grad.dtype());  // (outer, extent, inner)
  const int64_t* pi = ic.data<int64_t>();
  dispatch_floating(grad.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.template data<T>();
    T* pd = dx.template data<T>();
    // dx[o, index[k], f] += grad[o, k, f] for k = 0, 1, ... in order. Threads split the outer
    // axis when it is long enough, otherwise the feature axis f; either way each dx element
    // is owned by one thread and sums its terms in index order: deterministic, no atomics.
    if (outer >= num_threads()) {
      parallel_for(outer, n * inner, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
          for (int64_t k = 0; k < n; ++k) {
            const T* src = pg + (o * n + k) * inner;
            T* dst = pd + (o * extent + pi[k]) * inner;
            for (int64_t f = 0; f < inner; ++f) dst[f] += src[f];
          }
      });
    } else {
      parallel_for(inner, outer * n, [&](int64_t f0, int64_t f1) {
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t k = 0; k < n; ++k) {
            const T* src = pg + (o * n + k) * inner;
            T* dst = pd + (o * extent + pi[k]) * inner;
            for (int64_t f = f0; f < f1; ++f) dst[f] += src[f];
          }
      });
    }
  });
  return dx;
}

// ---------------------------------------------------------------------------------------
// gather

namespace {
/// Shared checks of gather and gather_backward: index has x's rank and fits inside x on
/// every axis but `ax`, and its values lie in [0, x_shape[ax]).
void check_gather(const char* op, const Shape& x_shape, int64_t ax, const Tensor& index) {
  check_index_dtype(op, index);
  TD_CHECK(index.dim() == static_cast<int64_t>(x_shape.size()), op,
           fmt::format("index {} must have the rank of the input {}", shape_str(index.shape()), shape_str(x_shape)));
  for (int64_t d = 0; d < index.dim(); ++d)
    TD_CHECK(d == ax || index.shape()[d] <= x_shape[d], op,
             fmt::format("index {} is larger than the input {} on axis {}", shape_str(index.shape()),
                         shape_str(x_shape), d));
  check_indices(op, index, x_shape[ax], ax, x_shape);
}
}  // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  check_defined(x, "gather");
  TD_CHECK(x.dim() >= 1, "gather", "expected an input with at least one axis");
  const int64_t ax = x.normalize_axis(axis, "gather");
  check_gather("gather", x.shape(), ax, index);
  const Tensor ic = index.contiguous();
  const Shape& is = ic.shape();
  const int64_t nd = ic.dim();
  Tensor out = Tensor::empty(is, x.dtype());  // index's shape
  const int64_t* pi = ic.data<int64_t>();
  dispatch_any(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    // out[e] = x[i_0, ..., index[e], ..., i_{n-1}] where (i_0, ...) is e's multi-index; x read via its strides.
    parallel_for(out.numel(), nd, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        int64_t rem = e, off = 0;
        for (int64_t d = nd - 1; d >= 0; --d) {
          const int64_t i = rem % is[d];
          rem /= is[d];
          off += (d == ax ? pi[e] : i) * x.strides()[d];
        }
        po[e] = px[off];
      }
    });
  });
  return out;
}

Tensor gather_backward(const Tensor& grad, int64_t axis, const Tensor& index, const Shape& input_shape) {
  const char* op = "gather_backward";
  check_floating(grad, op);
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  TD_CHECK(rank >= 1, op, "expected an input with at least one axis");
  const int64_t ax = normalize(axis, rank, op, input_shape);
  check_gather(op, input_shape, ax, index);
  TD_CHECK(grad.shape() == index.shape(), op,
           fmt::format("grad has shape {} but index has {}; they must match", shape_str(grad.shape()),
                       shape_str(index.shape())));
  const Tensor gc = grad.contiguous();  // index's shape: (outer..., n, inner...)
  const Tensor ic = index.contiguous();
  const Shape& is = ic.shape();
  const int64_t n = is[ax], inner = prod(is, ax + 1, rank), lines = ic.numel() / std::max<int64_t>(n, 1);
  const Shape ds = contiguous_strides(input_shape);
  Tensor dx = Tensor::zeros(input_shape, grad.dtype());
  if (ic.numel() == 0) return dx;
  const int64_t* pi = ic.data<int64_t>();
  dispatch_floating(grad.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.template data<T>();
    T* pd = dx.template data<T>();
    // One task per line along `ax` (all other coordinates fixed): it adds its n values into
    // dx on the same line, in order. Lines touch disjoint dx elements: no atomics, deterministic.
    parallel_for(lines, n, [&](int64_t l0, int64_t l1) {
      for (int64_t l = l0; l < l1; ++l) {
        const int64_t o = l / inner, f = l % inner;
        // dx offset of (o's coordinates, 0, f's coordinates).
        int64_t rem = f, base = 0;
        for (int64_t d = rank - 1; d > ax; --d) {
          base += (rem % is[d]) * ds[d];
          rem /= is[d];
        }
        rem = o;
        for (int64_t d = ax - 1; d >= 0; --d) {
          base += (rem % is[d]) * ds[d];
          rem /= is[d];
        }
        for (int64_t j = 0; j < n; ++j) {
          const int64_t e = (o * n + j) * inner + f;  // element of grad/index
          pd[base + pi[e] * ds[ax]] += pg[e];
        }
      }
    });
  });
  return dx;
}

// ---------------------------------------------------------------------------------------
// one_hot

Tensor one_hot(const Tensor& index, int64_t classes, DType dtype) {
  check_index_dtype("one_hot", index);
  TD_CHECK(classes >= 1, "one_hot", fmt::format("classes must be >= 1, got {}", classes));
  const Tensor ic = index.contiguous();
  const int64_t* pi = ic.data<int64_t>();
  for (int64_t i = 0; i < ic.numel(); ++i)
    TD_CHECK(pi[i] >= 0 && pi[i] < classes, "one_hot",
             fmt::format("index {} is out of range for {} classes (valid: 0 to {})", pi[i], classes, classes - 1));
  Shape out_shape = index.shape();
  out_shape.push_back(classes);
  Tensor out = Tensor::zeros(out_shape, dtype);  // (index..., classes)
  dispatch_any(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* po = static_cast<T*>(out.raw_data());
    for (int64_t i = 0; i < ic.numel(); ++i) po[i * classes + pi[i]] = T(1);
  });
  return out;
}

}  // namespace tinydiff
