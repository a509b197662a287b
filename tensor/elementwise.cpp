// Broadcasting elementwise kernels. See elementwise.h.
//
// Every op runs through one iteration engine, `Walk`. Each operand (the output first) is
// described by its element strides over the output's shape, with stride 0 on broadcast axes.
// Axes of extent 1 are dropped, and an axis is merged into the next inner one when it is
// contiguous with it for every operand. So `(B, C, H, W) + (C, 1, 1)` becomes a walk over
// `(B, C, H*W)` where the bias has strides `(0, 1, 0)`, and a transposed operand keeps its
// own strides (views need no copy). The walk calls a *row kernel* for runs along the last
// (merged) axis; row kernels branch on the inner strides (1: contiguous, 0: one broadcast
// value) so that each branch is a plain loop that GCC vectorises.
//
// Fast path: when every operand is either contiguous with the output's shape or a single
// element, the walk is one flat run split over threads, with no index arithmetic at all.
//
// Threads: `parallel_for` splits the *output's* element range in contiguous chunks; each chunk
// unravels its first multi-index and walks (possibly partial) rows from there. Every output
// element is written by exactly one thread.
#include "tensor/elementwise.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/vec_math.h"

namespace tinydiff {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {  // i counts axes from the end
    const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    TD_CHECK(da == db || da == 1 || db == 1, op,
             fmt::format("cannot broadcast {} with {}: axis {} has extents {} and {}", shape_str(a), shape_str(b),
                         -static_cast<int64_t>(i) - 1, da, db));
    out[n - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

// Rough flops per element, used by parallel_for to decide whether threads pay off.
constexpr int64_t kCheap = 1;
constexpr int64_t kTranscendental = 20;

template <size_t N>
using Offsets = std::array<int64_t, N>;

// Iteration over the broadcast of N operands onto `shape` (operand 0 is the destination).
// `range(begin, end, row)` calls `row(off, st, n)` for consecutive runs of elements
// [begin, end) in row-major order of `shape`: operand k's run starts `off[k]` elements after
// its data pointer and steps `st[k]` elements; `n` is the run's length.
template <size_t N>
class Walk {
 public:
  Walk(const Shape& shape, const std::array<const Tensor*, N>& ops) : numel_(shape_numel(shape)) {
    for (size_t k = 0; k < N; ++k) {
      const Tensor& t = *ops[k];
      if (t.numel() == 1) {
        flat_strides_[k] = 0;
      } else if (t.shape() == shape && t.is_contiguous()) {
        flat_strides_[k] = 1;
      } else {
        flat_ = false;
      }
    }
    if (flat_) return;
    // Strides of each operand over `shape`: 0 on missing leading axes and broadcast axes.
    const size_t nd = shape.size();
    std::array<Shape, N> st;
    for (size_t k = 0; k < N; ++k) {
      const Tensor& t = *ops[k];
      const size_t lead = nd - static_cast<size_t>(t.dim());
      st[k].assign(nd, 0);
      for (size_t i = lead; i < nd; ++i)
        if (t.shape()[i - lead] != 1) st[k][i] = t.strides()[i - lead];
    }
    // Collapse from the innermost axis outwards (built reversed, then flipped).
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      if (shape[d] == 1) continue;
      if (!shape_.empty()) {
        bool merge = true;
        for (size_t k = 0; k < N; ++k) merge = merge && st[k][d] == strides_[k].back() * shape_.back();
        if (merge) {
          shape_.back() *= shape[d];
          continue;
        }
      }
      shape_.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) strides_[k].push_back(st[k][d]);
    }
    std::reverse(shape_.begin(), shape_.end());
    for (size_t k = 0; k < N; ++k) std::reverse(strides_[k].begin(), strides_[k].end());
  }

  int64_t numel() const { return numel_; }

  template <typename Row>
  void range(int64_t begin, int64_t end, Row& row) const {
    if (begin >= end) return;
    Offsets<N> off{};
    if (flat_) {
      for (size_t k = 0; k < N; ++k) off[k] = begin * flat_strides_[k];
      row(off, flat_strides_, end - begin);
      return;
    }
    const int64_t nd = static_cast<int64_t>(shape_.size());
    if (nd == 0) {  // every extent is 1: a single element
      row(off, Offsets<N>{}, 1);
      return;
    }
    // Unravel `begin` into a multi-index over the collapsed shape.
    std::vector<int64_t> idx(static_cast<size_t>(nd));
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % shape_[d];
      rem /= shape_[d];
      for (size_t k = 0; k < N; ++k) off[k] += idx[d] * strides_[k][d];
    }
    Offsets<N> inner;
    for (size_t k = 0; k < N; ++k) inner[k] = strides_[k][nd - 1];
    const int64_t len = shape_[nd - 1];
    for (int64_t i = begin;;) {
      const int64_t n = std::min(len - idx[nd - 1], end - i);
      row(off, inner, n);
      i += n;
      if (i >= end) return;
      // The run reached the end of its row: go to the start of the next row.
      for (size_t k = 0; k < N; ++k) off[k] -= idx[nd - 1] * inner[k];
      idx[nd - 1] = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        ++idx[d];
        for (size_t k = 0; k < N; ++k) off[k] += strides_[k][d];
        if (idx[d] < shape_[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= shape_[d] * strides_[k][d];
        idx[d] = 0;
      }
    }
  }

 private:
  int64_t numel_;
  bool flat_ = true;
  Offsets<N> flat_strides_{};
  Shape shape_;                   // collapsed shape
  std::array<Shape, N> strides_;  // per operand, over the collapsed shape
};

// Runs `row` over every element of the walk, split over threads.
template <size_t N, typename Row>
void run(const Walk<N>& w, int64_t cost, Row&& row) {
  parallel_for(w.numel(), cost, [&](int64_t begin, int64_t end) { w.range(begin, end, row); });
}

// Whole-tensor reductions: the elements are cut into fixed blocks (so the result does not
// depend on the thread count); `row(acc, off, st, n)` folds runs into a block's accumulator.
constexpr int64_t kBlock = 1 << 15;
template <typename R, size_t N, typename Row>
std::vector<R> per_block(const Walk<N>& w, R init, Row row) {
  const int64_t nb = (w.numel() + kBlock - 1) / kBlock;
  std::vector<R> res(static_cast<size_t>(nb), init);
  // One block (small tensors) runs on the calling thread; more go to parallel_for.
  parallel_for(nb, nb > 1 ? kBlock : 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      R acc = init;
      auto fold = [&](const Offsets<N>& off, const Offsets<N>& st, int64_t n) { row(acc, off, st, n); };
      w.range(b * kBlock, std::min(w.numel(), (b + 1) * kBlock), fold);
      res[static_cast<size_t>(b)] = acc;
    }
  });
  return res;
}

// --- Row kernels: o = f(x), o = f(a, b), o = c ? a : b --------------------------------------
template <typename T, typename F>
void unary_row(T* o, int64_t so, const T* x, int64_t sx, int64_t n, F f) {
  if (so == 1 && sx == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
  } else if (so == 1 && sx == 0) {
    const T v = f(x[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) o[i * so] = f(x[i * sx]);
  }
}

template <typename T, typename F>
void binary_row(T* o, int64_t so, const T* a, int64_t sa, const T* b, int64_t sb, int64_t n, F f) {
  if (so == 1 && sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (so == 1 && sa == 1 && sb == 0) {
    const T bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (so == 1 && sa == 0 && sb == 1) {
    const T av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa], b[i * sb]);
  }
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  check_floating(a, op);
  check_floating(b, op);
  TD_CHECK(a.dtype() == b.dtype(), op,
           fmt::format("operands have different dtypes: {} {} and {} {}; convert one with .to() first",
                       dtype_name(a.dtype()), shape_str(a.shape()), dtype_name(b.dtype()), shape_str(b.shape())));
}

// out = f(x), elementwise; f is a generic lambda called with T.
template <typename F>
Tensor unary(const Tensor& x, const char* op, int64_t cost, F f) {
  check_floating(x, op);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  const Walk<2> w(x.shape(), {&out, &x});
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* po = out.data<T>();
    const T* px = x.data<T>();
    run(w, cost, [&](const Offsets<2>& off, const Offsets<2>& st, int64_t n) {
      unary_row(po + off[0], st[0], px + off[1], st[1], n, f);
    });
  });
  return out;
}

// out = f(a, b) over the broadcast of a and b.
template <typename F>
Tensor binary(const Tensor& a, const Tensor& b, const char* op, int64_t cost, F f) {
  check_same_dtype(a, b, op);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype());
  const Walk<3> w(shape, {&out, &a, &b});
  dispatch_floating(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* po = out.data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    run(w, cost, [&](const Offsets<3>& off, const Offsets<3>& st, int64_t n) {
      binary_row(po + off[0], st[0], pa + off[1], st[1], pb + off[2], st[2], n, f);
    });
  });
  return out;
}

// Throws unless every element of `dst` has its own memory (no expanded, stride-0 axes), so
// that an in-place update writes each element once.
void check_writable(const Tensor& dst, const char* op) {
  for (int64_t d = 0; d < dst.dim(); ++d)
    TD_CHECK(dst.shape()[d] <= 1 || dst.strides()[d] != 0, op,
             fmt::format("the destination {} with strides {} is an expanded view (stride 0 on axis {}); "
                         "in-place updates need distinct elements, call clone() first",
                         shape_str(dst.shape()), shape_str(dst.strides()), d));
}

// NaN-propagating max/min, like torch.maximum / torch.minimum.
template <typename T>
T max_nan(T a, T b) {
  return (a > b || a != a) ? a : b;
}
template <typename T>
T min_nan(T a, T b) {
  return (a < b || a != a) ? a : b;
}

// Sigmoid without overflow: with e = exp(-|x|) <= 1, sigma(x) = 1/(1+e) for x >= 0 and
// e/(1+e) for x < 0 (vsigmoid in vec_math.h: vectorised for float).
template <typename T>
T sigmoid_stable(T x) {
  return vsigmoid(x);
}

}  // namespace

// --- Binary -----------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  return binary(a, b, "add", kCheap, [](auto x, auto y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(a, b, "sub", kCheap, [](auto x, auto y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(a, b, "mul", kCheap, [](auto x, auto y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary(a, b, "div", kCheap, [](auto x, auto y) { return x / y; });
}
Tensor pow(const Tensor& a, const Tensor& b) {
  return binary(a, b, "pow", kTranscendental, [](auto x, auto y) { return std::pow(x, y); });
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary(a, b, "maximum", kCheap, [](auto x, auto y) { return max_nan(x, y); });
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary(a, b, "minimum", kCheap, [](auto x, auto y) { return min_nan(x, y); });
}

// --- With a scalar (the scalar is rounded to T once; the arithmetic is in T) ----------------------
Tensor add(const Tensor& a, double s) {
  return unary(a, "add", kCheap, [s](auto x) { return x + static_cast<decltype(x)>(s); });
}
Tensor sub(const Tensor& a, double s) {
  return unary(a, "sub", kCheap, [s](auto x) { return x - static_cast<decltype(x)>(s); });
}
Tensor sub(double s, const Tensor& a) {
  return unary(a, "sub", kCheap, [s](auto x) { return static_cast<decltype(x)>(s) - x; });
}
Tensor mul(const Tensor& a, double s) {
  return unary(a, "mul", kCheap, [s](auto x) { return x * static_cast<decltype(x)>(s); });
}
Tensor div(const Tensor& a, double s) {
  return unary(a, "div", kCheap, [s](auto x) { return x / static_cast<decltype(x)>(s); });
}
Tensor div(double s, const Tensor& a) {
  return unary(a, "div", kCheap, [s](auto x) { return static_cast<decltype(x)>(s) / x; });
}
Tensor pow(const Tensor& a, double p) {
  if (p == 1.0) return unary(a, "pow", kCheap, [](auto x) { return x; });
  if (p == 2.0) return unary(a, "pow", kCheap, [](auto x) { return x * x; });
  return unary(a, "pow", kTranscendental, [p](auto x) { return std::pow(x, static_cast<decltype(x)>(p)); });
}

// --- Unary --------------------------------------------------------------------------------------
Tensor neg(const Tensor& x) {
  return unary(x, "neg", kCheap, [](auto v) { return -v; });
}
Tensor exp(const Tensor& x) {
  return unary(x, "exp", kTranscendental, [](auto v) { return std::exp(v); });
}
Tensor log(const Tensor& x) {
  return unary(x, "log", kTranscendental, [](auto v) { return std::log(v); });
}
Tensor sqrt(const Tensor& x) {
  return unary(x, "sqrt", kCheap, [](auto v) { return std::sqrt(v); });
}
Tensor rsqrt(const Tensor& x) {
  return unary(x, "rsqrt", kCheap, [](auto v) { return decltype(v)(1) / std::sqrt(v); });
}
Tensor abs(const Tensor& x) {
  return unary(x, "abs", kCheap, [](auto v) { return std::abs(v); });
}
Tensor square(const Tensor& x) {
  return unary(x, "square", kCheap, [](auto v) { return v * v; });
}
Tensor sin(const Tensor& x) {
  return unary(x, "sin", kTranscendental, [](auto v) { return std::sin(v); });
}
Tensor cos(const Tensor& x) {
  return unary(x, "cos", kTranscendental, [](auto v) { return std::cos(v); });
}
Tensor tanh(const Tensor& x) {
  return unary(x, "tanh", kTranscendental, [](auto v) { return std::tanh(v); });
}
Tensor sigmoid(const Tensor& x) {
  return unary(x, "sigmoid", kTranscendental, [](auto v) { return sigmoid_stable(v); });
}
Tensor relu(const Tensor& x) {
  // (v < 0) ? 0 : v keeps NaN as NaN, like torch.relu.
  return unary(x, "relu", kCheap, [](auto v) { return v < decltype(v)(0) ? decltype(v)(0) : v; });
}
Tensor silu(const Tensor& x) {
  return unary(x, "silu", kTranscendental, [](auto v) { return v * sigmoid_stable(v); });
}
Tensor gelu_erf(const Tensor& x) {
  return unary(x, "gelu_erf", kTranscendental, [](auto v) {
    using T = decltype(v);
    return T(0.5) * v * (T(1) + std::erf(v * std::numbers::sqrt2_v<T> / T(2)));
  });
}
Tensor gelu_tanh(const Tensor& x) {
  return unary(x, "gelu_tanh", kTranscendental, [](auto v) {
    using T = decltype(v);
    const T k = std::numbers::sqrt2_v<T> * std::numbers::inv_sqrtpi_v<T>;  // sqrt(2 / pi)
    return T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)));
  });
}
Tensor clamp(const Tensor& x, double lo, double hi) {
  check_floating(x, "clamp");
  TD_CHECK(lo <= hi, "clamp",
           fmt::format("lower bound {} is above upper bound {} (input shape {})", lo, hi, shape_str(x.shape())));
  return unary(x, "clamp", kCheap, [lo, hi](auto v) {
    using T = decltype(v);
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    const T m = v < l ? l : v;  // NaN stays NaN through both selects
    return h < m ? h : m;
  });
}

// --- Comparisons and selection ------------------------------------------------------------------
#define TD_COMPARISON(name, expr)                           \
  Tensor name(const Tensor& a, const Tensor& b) {           \
    return binary(a, b, #name, kCheap, [](auto x, auto y) { \
      using T = decltype(x);                                \
      return (expr) ? T(1) : T(0);                          \
    });                                                     \
  }
TD_COMPARISON(eq, x == y)
TD_COMPARISON(ne, x != y)
TD_COMPARISON(lt, x < y)
TD_COMPARISON(le, x <= y)
TD_COMPARISON(gt, x > y)
TD_COMPARISON(ge, x >= y)
#undef TD_COMPARISON

Tensor gt(const Tensor& a, double s) {
  return unary(a, "gt", kCheap, [s](auto x) {
    using T = decltype(x);
    return x > static_cast<T>(s) ? T(1) : T(0);
  });
}
Tensor lt(const Tensor& a, double s) {
  return unary(a, "lt", kCheap, [s](auto x) {
    using T = decltype(x);
    return x < static_cast<T>(s) ? T(1) : T(0);
  });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "where");
  check_same_dtype(cond, a, "where");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype());
  const Walk<4> w(shape, {&out, &cond, &a, &b});
  dispatch_floating(a.dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    T* po = out.data<T>();
    const T *pc = cond.data<T>(), *pa = a.data<T>(), *pb = b.data<T>();
    run(w, kCheap, [&](const Offsets<4>& off, const Offsets<4>& st, int64_t n) {
      T* o = po + off[0];
      const T *c = pc + off[1], *x = pa + off[2], *y = pb + off[3];
      if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = c[i] != T(0) ? x[i] : y[i];
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = c[i * st[1]] != T(0) ? x[i * st[2]] : y[i * st[3]];
      }
    });
  });
  return out;
}

// --- In place -----------------------------------------------------------------------------------
void add_(Tensor& dst, const Tensor& src, double alpha) {
  check_same_dtype(dst, src, "add_");
  TD_CHECK(broadcast_shapes(dst.shape(), src.shape(), "add_") == dst.shape(), "add_",
           fmt::format("the source {} does not broadcast to the destination {}", shape_str(src.shape()),
                       shape_str(dst.shape())));
  check_writable(dst, "add_");
  const Walk<2> w(dst.shape(), {&dst, &src});
  dispatch_floating(dst.dtype(), "add_", [&](auto tag) {
    using T = decltype(tag);
    T* pd = dst.data<T>();
    const T* ps = src.data<T>();
    const T al = static_cast<T>(alpha);
    run(w, kCheap, [&](const Offsets<2>& off, const Offsets<2>& st, int64_t n) {
      T* d = pd + off[0];
      const T* s = ps + off[1];
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t i = 0; i < n; ++i) d[i] += al * s[i];
      } else if (st[0] == 1 && st[1] == 0) {
        const T v = al * s[0];
        for (int64_t i = 0; i < n; ++i) d[i] += v;
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * st[0]] += al * s[i * st[1]];
      }
    });
  });
}

void mul_(Tensor& dst, double s) {
  check_floating(dst, "mul_");
  check_writable(dst, "mul_");
  const Walk<1> w(dst.shape(), {&dst});
  dispatch_floating(dst.dtype(), "mul_", [&](auto tag) {
    using T = decltype(tag);
    T* pd = dst.data<T>();
    const T v = static_cast<T>(s);
    run(w, kCheap, [&](const Offsets<1>& off, const Offsets<1>& st, int64_t n) {
      T* d = pd + off[0];
      if (st[0] == 1) {
        for (int64_t i = 0; i < n; ++i) d[i] *= v;
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * st[0]] *= v;
      }
    });
  });
}

// --- Whole-tensor checks ------------------------------------------------------------------------
bool all_finite(const Tensor& x) {
  check_floating(x, "all_finite");
  const Walk<1> w(x.shape(), {&x});
  return dispatch_floating(x.dtype(), "all_finite", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    // v - v is 0 for finite v and NaN for infinities and NaN; this form vectorises.
    const auto bad = per_block<int>(w, 0, [&](int& acc, const Offsets<1>& off, const Offsets<1>& st, int64_t n) {
      const T* p = px + off[0];
      int b = 0;
      if (st[0] == 1) {
        for (int64_t i = 0; i < n; ++i) b |= !(p[i] - p[i] == T(0));
      } else {
        for (int64_t i = 0; i < n; ++i) b |= !(p[i * st[0]] - p[i * st[0]] == T(0));
      }
      acc |= b;
    });
    return std::none_of(bad.begin(), bad.end(), [](int b) { return b != 0; });
  });
}

namespace {
// Folds f(double(a), double(b)) over the broadcast of a and b, block by block; converts
// both to float64 first when their dtypes differ or are not floating point.
template <typename R, typename Fold, typename Combine>
R fold_pairs(const Tensor& a, const Tensor& b, const char* op, R init, Fold fold, Combine combine) {
  check_defined(a, op);
  check_defined(b, op);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  const bool same = a.dtype() == b.dtype() && a.dtype() != DType::I64;
  const Tensor x = same ? a : a.to(DType::F64), y = same ? b : b.to(DType::F64);
  const Walk<2> w(shape, {&x, &y});
  return dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T *px = x.data<T>(), *py = y.data<T>();
    const auto parts = per_block<R>(w, init, [&](R& acc, const Offsets<2>& off, const Offsets<2>& st, int64_t n) {
      const T *p = px + off[0], *q = py + off[1];
      for (int64_t i = 0; i < n; ++i)
        acc = fold(acc, static_cast<double>(p[i * st[0]]), static_cast<double>(q[i * st[1]]));
    });
    R r = init;
    for (const R& p : parts) r = combine(r, p);
    return r;
  });
}
}  // namespace

double max_abs_diff(const Tensor& a, const Tensor& b) {
  // Equal values (also equal infinities) differ by 0; a NaN anywhere makes the result NaN.
  auto fold = [](double m, double x, double y) {
    const double d = x == y ? 0.0 : std::abs(x - y);
    return (d > m || d != d) ? d : m;
  };
  auto combine = [](double m, double d) { return (d > m || d != d) ? d : m; };
  return fold_pairs<double>(a, b, "max_abs_diff", 0.0, fold, combine);
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  // Counts elements that are neither equal nor within atol + rtol |b| (NaN is never close).
  auto fold = [rtol, atol](int64_t bad, double x, double y) {
    return bad + ((x == y || std::abs(x - y) <= atol + rtol * std::abs(y)) ? 0 : 1);
  };
  auto combine = [](int64_t s, int64_t c) { return s + c; };
  return fold_pairs<int64_t>(a, b, "allclose", 0, fold, combine) == 0;
}

}  // namespace tinydiff
