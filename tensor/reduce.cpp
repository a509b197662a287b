// Reductions and logsumexp. See reduce.h.
//
// sum / mean / max / min. The input is made contiguous (a no-op for most inputs) and its axes
// are grouped: extent-1 axes are dropped and neighbouring axes that are both reduced or both
// kept are merged. Reducing (B, C, H, W) over {0, 2, 3} gives the groups (B | C | H*W), i.e.
// (reduced, kept, reduced). The last reduced group is then removed by one of two kernels,
// and this repeats until no reduced group is left:
//   - rows    x: (outer, R)         out[o]    = reduce_r x[o, r]     (nothing kept after R)
//   - columns x: (outer, R, inner)  out[o, i] = reduce_r x[o, r, i]  (vectorised over i)
// Both read memory in order and need no copy: (B | C | H*W) is reduced by rows to (B | C),
// then by columns to (C).
//
// Precision: float32 sums are accumulated in double (and the intermediate buffers between
// the steps above are double), so a sum over 10^6 float32 values is as accurate as the
// float32 result can be. Row sums use 32 independent accumulators ("lanes") so the loop
// vectorises without -ffast-math; summation order depends only on the shape, never on the
// thread count, so results are deterministic.
//
// var, argmax and logsumexp move the reduced axes to the end
// (permute + contiguous, a no-op when they already are the trailing axes of a contiguous
// tensor) and work on rows.
#include "tensor/reduce.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "tensor/dispatch.h"

namespace tinydiff {
namespace {

constexpr int kLanes = 32;              // independent accumulators in a row reduction
constexpr int64_t kRowBlock = 1 << 15;  // long rows are split into blocks of this many elements
constexpr int64_t kColBlock = 256;      // columns handled together by one task
constexpr int64_t kColChunk = 1 << 16;  // elements per task when a column reduction is split over R

// Reduction operators: `step` folds one value into an accumulator, `combine` merges two
// accumulators. Max and min propagate NaN, like PyTorch.
struct SumOp {
  template <typename A>
  static A init() {
    return A(0);
  }
  template <typename A, typename V>
  static A step(A acc, V v) {
    return acc + static_cast<A>(v);
  }
};
struct MaxOp {
  template <typename A>
  static A init() {
    return -std::numeric_limits<A>::infinity();
  }
  template <typename A, typename V>
  static A step(A acc, V v) {
    const A x = static_cast<A>(v);
    return (x > acc || x != x) ? x : acc;
  }
};
struct MinOp {
  template <typename A>
  static A init() {
    return std::numeric_limits<A>::infinity();
  }
  template <typename A, typename V>
  static A step(A acc, V v) {
    const A x = static_cast<A>(v);
    return (x < acc || x != x) ? x : acc;
  }
};

// Folds map(p[i]) for i in [0, n) with `kLanes` independent accumulators, merged pairwise.
template <typename Op, typename A, typename In, typename Map>
A fold_segment(const In* p, int64_t n, Map map) {
  A lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = Op::template init<A>();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] = Op::step(lane[j], map(p[i + j]));
  for (int j = 0; i < n; ++i, ++j) lane[j] = Op::step(lane[j], map(p[i]));
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] = Op::step(lane[j], lane[j + w]);
  return lane[0];
}

template <typename Op, typename A, typename In>
A fold_segment(const In* p, int64_t n) {
  return fold_segment<Op, A>(p, n, [](In v) { return static_cast<A>(v); });
}

// out[o] = fold of seg(o, begin, end) over row o of length n. Rows longer than kRowBlock are
// cut into fixed blocks (so several threads can share one long row) whose partial results
// are merged in order with Op::step.
template <typename Op, typename A, typename Seg>
void reduce_rows(int64_t rows, int64_t n, A* out, int64_t cost, Seg seg) {
  const int64_t nb = n <= kRowBlock ? 1 : (n + kRowBlock - 1) / kRowBlock;
  if (nb == 1) {
    parallel_for(rows, n * cost, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) out[o] = seg(o, int64_t{0}, n);
    });
    return;
  }
  std::vector<A> part(static_cast<size_t>(rows * nb));
  parallel_for(rows * nb, kRowBlock * cost, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nb, c = t % nb;
      part[t] = seg(o, c * kRowBlock, std::min(n, (c + 1) * kRowBlock));
    }
  });
  for (int64_t o = 0; o < rows; ++o) {
    A acc = part[o * nb];
    for (int64_t c = 1; c < nb; ++c) acc = Op::step(acc, part[o * nb + c]);
    out[o] = acc;
  }
}

// out[o, i] = fold over r of x[o, r, i] for x: (outer, R, inner), inner > 1. A task handles
// kColBlock columns of one o; when R is long the rows are cut into chunks whose partial
// results are folded by a second pass (fixed by the shape, not the thread count).
template <typename Op, typename A, typename In>
void reduce_columns(const In* x, int64_t outer, int64_t R, int64_t inner, A* out) {
  const int64_t chunk = std::max<int64_t>(16, kColChunk / inner);
  if (R > chunk) {
    const int64_t nc = (R + chunk - 1) / chunk;
    std::vector<A> part(static_cast<size_t>(outer * nc * inner));  // (outer, nc, inner)
    const int64_t nib = (inner + kColBlock - 1) / kColBlock;
    parallel_for(outer * nc * nib, chunk * std::min(inner, kColBlock), [&](int64_t b, int64_t e) {
      A acc[kColBlock];
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / (nc * nib), c = t / nib % nc, i0 = t % nib * kColBlock;
        const int64_t m = std::min(kColBlock, inner - i0), r1 = std::min(R, (c + 1) * chunk);
        for (int64_t i = 0; i < m; ++i) acc[i] = Op::template init<A>();
        for (int64_t r = c * chunk; r < r1; ++r) {
          const In* p = x + (o * R + r) * inner + i0;
          for (int64_t i = 0; i < m; ++i) acc[i] = Op::step(acc[i], p[i]);
        }
        std::copy(acc, acc + m, part.data() + (o * nc + c) * inner + i0);
      }
    });
    reduce_columns<Op, A, A>(part.data(), outer, nc, inner, out);
    return;
  }
  const int64_t nib = (inner + kColBlock - 1) / kColBlock;
  parallel_for(outer * nib, R * std::min(inner, kColBlock), [&](int64_t b, int64_t e) {
    A acc[kColBlock];
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nib, i0 = t % nib * kColBlock, m = std::min(kColBlock, inner - i0);
      for (int64_t i = 0; i < m; ++i) acc[i] = Op::template init<A>();
      for (int64_t r = 0; r < R; ++r) {
        const In* p = x + (o * R + r) * inner + i0;
        for (int64_t i = 0; i < m; ++i) acc[i] = Op::step(acc[i], p[i]);
      }
      std::copy(acc, acc + m, out + o * inner + i0);
    }
  });
}

// One step: x: (outer, R, inner) -> out: (outer, inner).
template <typename Op, typename A, typename In>
void reduce_step(const In* x, int64_t outer, int64_t R, int64_t inner, A* out) {
  if (inner == 1) {
    reduce_rows<Op, A>(outer, R, out, 1,
                       [&](int64_t o, int64_t b, int64_t e) { return fold_segment<Op, A>(x + o * R + b, e - b); });
  } else {
    reduce_columns<Op, A>(x, outer, R, inner, out);
  }
}

// What a reduction over `axes` does to `x`: the output shape, the reduced-axis mask and
// the number of elements folded into each output.
struct Plan {
  Shape out_shape;
  std::vector<bool> reduced;  // per input axis
  int64_t count = 1;          // elements per output
};

Plan make_plan(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, const char* op) {
  check_floating(x, op);
  Plan p;
  const int64_t nd = x.dim();
  if (nd == 0) {  // a 0-d tensor: axis 0 / -1 is accepted, as in PyTorch
    for (int64_t a : axes)
      TD_CHECK(a == 0 || a == -1, op, fmt::format("axis {} is out of range for a 0-d tensor (valid: 0, -1)", a));
    return p;
  }
  p.reduced.assign(static_cast<size_t>(nd), axes.empty());
  std::vector<bool> seen(static_cast<size_t>(nd), false);
  for (int64_t a : axes) {
    const int64_t d = x.normalize_axis(a, op);
    TD_CHECK(!seen[d], op,
             fmt::format("axis {} is listed twice in the axes for a tensor of shape {}", a, shape_str(x.shape())));
    seen[d] = true;
    p.reduced[d] = true;
  }
  for (int64_t d = 0; d < nd; ++d) {
    if (p.reduced[d]) {
      p.count *= x.shape()[d];
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.out_shape.push_back(x.shape()[d]);
    }
  }
  return p;
}

// Folds `x` (contiguous) according to the plan into out (one A per output element).
template <typename Op, typename A, typename T>
void run_plan(const Tensor& x, const Plan& plan, A* out) {
  const T* px = x.data<T>();
  // Groups of (extent, reduced) after dropping extent-1 axes and merging neighbours.
  std::vector<std::pair<int64_t, bool>> g;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.shape()[d] == 1) continue;
    if (!g.empty() && g.back().second == plan.reduced[d])
      g.back().first *= x.shape()[d];
    else
      g.emplace_back(x.shape()[d], plan.reduced[d]);
  }
  int64_t left = std::count_if(g.begin(), g.end(), [](const auto& e) { return e.second; });
  if (left == 0) {  // only extent-1 axes are reduced: a copy
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<A>(px[i]);
    return;
  }
  std::vector<A> cur, next;
  bool first = true;
  while (left > 0) {
    size_t k = g.size() - 1;
    while (!g[k].second) --k;
    int64_t outer = 1, inner = 1;
    for (size_t j = 0; j < k; ++j) outer *= g[j].first;
    for (size_t j = k + 1; j < g.size(); ++j) inner *= g[j].first;
    A* dst = out;
    if (--left > 0) {
      next.resize(static_cast<size_t>(outer * inner));
      dst = next.data();
    }
    if (first)
      reduce_step<Op, A>(px, outer, g[k].first, inner, dst);
    else
      reduce_step<Op, A>(cur.data(), outer, g[k].first, inner, dst);
    first = false;
    std::swap(cur, next);
    // Remove the group; its kept neighbours become adjacent and merge.
    g.erase(g.begin() + static_cast<std::ptrdiff_t>(k));
    if (k > 0 && k < g.size() && !g[k - 1].second && !g[k].second) {
      g[k - 1].first *= g[k].first;
      g.erase(g.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
}

// sum / mean / max / min: accumulate with Op in A (double for sums), then out = finish(acc).
template <typename Op, bool kDoubleAcc, typename Finish>
Tensor reduce_op(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, const char* op, Finish finish) {
  const Plan plan = make_plan(x, axes, keepdim, op);
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  if (out.numel() == 0) return out;
  const Tensor xc = x.contiguous();
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    using A = std::conditional_t<kDoubleAcc, double, T>;
    std::vector<A> acc(static_cast<size_t>(out.numel()), Op::template init<A>());
    if (x.numel() > 0) run_plan<Op, A, T>(xc, plan, acc.data());
    T* po = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = static_cast<T>(finish(acc[i], plan.count));
  });
  return out;
}

void check_nonempty(const Tensor& x, const Plan& plan, const char* op) {
  TD_CHECK(plan.count > 0, op,
           fmt::format("cannot reduce over an axis of extent 0 (input shape {}); the result would be undefined",
                       shape_str(x.shape())));
}

// x with the `reduced` axes moved to the end (keeping their order), contiguous, so each output
// element owns one contiguous row of `n` elements. No copy when they already are trailing.
struct Rows {
  Tensor data;  // contiguous, (kept axes..., reduced axes...)
  int64_t rows = 1, n = 1;
  std::vector<int64_t> order;  // the permutation applied
};

Rows to_rows(const Tensor& x, const std::vector<bool>& reduced) {
  Rows r;
  for (int pass = 0; pass < 2; ++pass) {  // kept axes first, then the reduced ones
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (reduced[d] != (pass == 1)) continue;
      r.order.push_back(d);
      (pass == 0 ? r.rows : r.n) *= x.shape()[d];
    }
  }
  r.data = x.permute(r.order).contiguous();
  return r;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce_op<SumOp, true>(x, axes, keepdim, "sum", [](double s, int64_t) { return s; });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  // Over zero elements the mean is 0/0 = NaN, as in PyTorch.
  return reduce_op<SumOp, true>(x, axes, keepdim, "mean",
                                [](double s, int64_t n) { return s / static_cast<double>(n); });
}

Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_nonempty(x, make_plan(x, axes, keepdim, "max"), "max");
  return reduce_op<MaxOp, false>(x, axes, keepdim, "max", [](auto m, int64_t) { return m; });
}

Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_nonempty(x, make_plan(x, axes, keepdim, "min"), "min");
  return reduce_op<MinOp, false>(x, axes, keepdim, "min", [](auto m, int64_t) { return m; });
}

Tensor var(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, int64_t correction) {
  const Plan plan = make_plan(x, axes, keepdim, "var");
  TD_CHECK(correction >= 0, "var",
           fmt::format("correction must be >= 0, got {} (input shape {})", correction, shape_str(x.shape())));
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  if (out.numel() == 0) return out;
  const Rows r = to_rows(x.dim() == 0 ? x.reshape({1}) : x, x.dim() == 0 ? std::vector<bool>{true} : plan.reduced);
  // Two passes in double: the mean of each row, then the mean squared deviation from it.
  // Divides by max(n - correction, 0): one element with correction 1 gives 0 / 0 = NaN, as in
  // PyTorch; so does an empty reduction.
  dispatch_floating(x.dtype(), "var", [&](auto tag) {
    using T = decltype(tag);
    const T* px = r.data.data<T>();
    const int64_t n = r.n;
    std::vector<double> mu(static_cast<size_t>(r.rows)), ss(static_cast<size_t>(r.rows));
    reduce_rows<SumOp, double>(r.rows, n, mu.data(), 1, [&](int64_t o, int64_t b, int64_t e) {
      return fold_segment<SumOp, double>(px + o * n + b, e - b);
    });
    for (double& m : mu) m /= static_cast<double>(n);
    reduce_rows<SumOp, double>(r.rows, n, ss.data(), 3, [&](int64_t o, int64_t b, int64_t e) {
      const double m = mu[o];
      return fold_segment<SumOp, double>(px + o * n + b, e - b, [m](T v) {
        const double d = static_cast<double>(v) - m;
        return d * d;
      });
    });
    T* po = out.data<T>();
    const double denom = static_cast<double>(std::max<int64_t>(n - correction, 0));
    for (int64_t o = 0; o < r.rows; ++o)
      po[o] = static_cast<T>(n == 0 ? std::numeric_limits<double>::quiet_NaN() : ss[o] / denom);
  });
  return out;
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  check_floating(x, "argmax");
  TD_CHECK(x.dim() > 0, "argmax", "expected a tensor with at least one axis, got a 0-d tensor");
  const int64_t ax = x.normalize_axis(axis, "argmax");
  const Plan plan = make_plan(x, {ax}, keepdim, "argmax");
  check_nonempty(x, plan, "argmax");
  Tensor out = Tensor::empty(plan.out_shape, DType::I64);
  const Rows r = to_rows(x, plan.reduced);
  int64_t* po = out.data<int64_t>();
  dispatch_floating(x.dtype(), "argmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = r.data.data<T>();
    const int64_t n = r.n;
    parallel_for(r.rows, n, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* p = px + o * n;
        int64_t best = 0;  // strictly greater keeps the first index on ties; NaN counts as the maximum
        for (int64_t i = 1; i < n; ++i)
          if (p[i] > p[best] || (p[i] != p[i] && p[best] == p[best])) best = i;
        po[o] = best;
      }
    });
  });
  return out;
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  const Plan plan = make_plan(x, axes, keepdim, "logsumexp");
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  if (out.numel() == 0) return out;
  const Rows r = to_rows(x.dim() == 0 ? x.reshape({1}) : x, x.dim() == 0 ? std::vector<bool>{true} : plan.reduced);
  dispatch_floating(x.dtype(), "logsumexp", [&](auto tag) {
    using T = decltype(tag);
    const T* px = r.data.data<T>();
    T* po = out.data<T>();
    const int64_t n = r.n;
    parallel_for(r.rows, n * 24, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* p = px + o * n;
        const T m = fold_segment<MaxOp, T>(p, n);
        // All -inf (or empty) gives -inf, a +inf gives +inf, NaN stays NaN: m itself.
        if (!std::isfinite(m)) {
          po[o] = m;
          continue;
        }
        const double s = fold_segment<SumOp, double>(p, n, [m](T v) { return static_cast<double>(std::exp(v - m)); });
        po[o] = static_cast<T>(static_cast<double>(m) + std::log(s));
      }
    });
  });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_floating(x, "sum_to");
  const int64_t nd = x.dim(), ns = static_cast<int64_t>(shape.size());
  auto fail = [&](const std::string& why) {
    return fmt::format("cannot sum {} down to {}: {}; expected a shape that broadcasts to {}", shape_str(x.shape()),
                       shape_str(shape), why, shape_str(x.shape()));
  };
  TD_CHECK(ns <= nd, "sum_to", fail(fmt::format("the target has {} axes, the input {}", ns, nd)));
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < nd; ++d) {
    if (d < nd - ns) {
      axes.push_back(d);
      continue;
    }
    const int64_t want = shape[d - (nd - ns)], have = x.shape()[d];
    TD_CHECK(want == have || want == 1, "sum_to",
             fail(fmt::format("axis {} has extent {} in the input and {} in the target", d - nd, have, want)));
    if (want == 1 && have != 1) axes.push_back(d);
  }
  // Summing over extent-1 axes only changes the shape: return a view of x (no copy).
  if (std::all_of(axes.begin(), axes.end(), [&](int64_t d) { return x.shape()[d] == 1; })) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

}  // namespace tinydiff
