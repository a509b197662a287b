// Softmax, log-softmax, their backward kernels and attention's masked softmax. One row kernel
// (softmax_row) computes every forward, one (softmax_backward_row) every backward; the public
// functions only lay the rows out. See softmax.h.
#include "tensor/softmax.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"
#include "tensor/vec_math.h"

namespace tinydiff {

namespace {

enum class SoftmaxKind { Softmax, LogSoftmax };

// The row kernel: y = softmax(scale * x) or log_softmax(scale * x) of one row of n values.
// keep: the row's key mask (n values, 0 = masked), or nullptr; used with Softmax only. Masked
// keys are left out of the maximum and the sum and get probability 0; if every key is masked
// the row is all zeros. x and y may be the same memory.
//   m = max_j scale x_j,  s = sum_j e^(scale x_j - m)  (lane_max, lane_sum in double, vexp)
//   softmax: y_j = e^(scale x_j - m) * (1 / s);   log_softmax: y_j = (scale x_j - m) - ln s
template <typename T>
void softmax_row(const T* x, T* y, int64_t n, T scale, const T* keep, SoftmaxKind kind) {
  if (kind == SoftmaxKind::LogSoftmax) {
    const T m = lane_max(n, [&](int64_t j) { return scale * x[j]; });
    const double s = lane_sum(n, [&](int64_t j) { return static_cast<double>(vexp(scale * x[j] - m)); });
    // (x - m) - ln s, not x - (m + ln s): x - m is exact near the maximum, so large logits keep precision.
    const T log_s = static_cast<T>(std::log(s));
    for (int64_t j = 0; j < n; ++j) y[j] = (scale * x[j] - m) - log_s;
    return;
  }
  double s = 0;
  if (!keep) {
    const T m = lane_max(n, [&](int64_t j) { return scale * x[j]; });
    s = lane_sum(n, [&](int64_t j) {
      const T e = vexp(scale * x[j] - m);
      y[j] = e;
      return static_cast<double>(e);
    });
  } else {
    if (std::none_of(keep, keep + n, [](T k) { return k != T(0); })) {
      std::fill(y, y + n, T(0));  // every key masked: probability row of zeros
      return;
    }
    const T m =
        lane_max(n, [&](int64_t j) { return keep[j] == T(0) ? -std::numeric_limits<T>::infinity() : scale * x[j]; });
    s = lane_sum(n, [&](int64_t j) {
      const T e = keep[j] == T(0) ? T(0) : vexp(scale * x[j] - m);
      y[j] = e;
      return static_cast<double>(e);
    });
  }
  const T inv = static_cast<T>(1.0 / s);
  for (int64_t j = 0; j < n; ++j) y[j] *= inv;
}

// The backward row kernel, given the forward's output y and the upstream gradient g (dx may be g):
//   softmax:     dx_j = scale * y_j * (g_j - sum_k g_k y_k)
//   log_softmax: dx_j = g_j - e^(y_j) * sum_k g_k          (scale 1)
template <typename T>
void softmax_backward_row(const T* y, const T* g, T* dx, int64_t n, double scale, SoftmaxKind kind) {
  if (kind == SoftmaxKind::LogSoftmax) {
    const double s = lane_sum(n, [&](int64_t j) { return static_cast<double>(g[j]); });
    for (int64_t j = 0; j < n; ++j) dx[j] = static_cast<T>(g[j] - vexp(y[j]) * s);
    return;
  }
  const double dot = lane_sum(n, [&](int64_t j) { return static_cast<double>(g[j]) * y[j]; });
  for (int64_t j = 0; j < n; ++j) dx[j] = static_cast<T>(scale * y[j] * (g[j] - dot));
}

// Every row of x: (rows, n) into y (may be x), in parallel over rows. mask: (rows / rows_per_mask, n) or nullptr.
template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, T scale, const T* mask, int64_t rows_per_mask,
                  SoftmaxKind kind) {
  parallel_for(rows, 6 * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      softmax_row(x + r * n, y + r * n, n, scale, mask ? mask + (r / rows_per_mask) * n : nullptr, kind);
  });
}

// Every row of y, g, dx: (rows, n), in parallel over rows (dx may be g).
template <typename T>
void softmax_backward_rows(const T* y, const T* g, T* dx, int64_t rows, int64_t n, double scale, SoftmaxKind kind) {
  parallel_for(rows, 4 * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) softmax_backward_row(y + r * n, g + r * n, dx + r * n, n, scale, kind);
  });
}

// x with axis `ax` moved last and made contiguous (no copy when it already is the last axis of
// a contiguous tensor): rows of n = x.size(ax).
struct AxisRows {
  Tensor data;                 // (other axes..., n), contiguous
  int64_t rows = 1, n = 1;     // rows: the product of the other axes
  std::vector<int64_t> order;  // the permutation applied (empty: none)
};

AxisRows axis_rows(const Tensor& x, int64_t ax) {
  AxisRows r;
  r.n = x.shape()[ax];
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != ax) r.rows *= x.shape()[d];
  if (ax == x.dim() - 1) {
    r.data = x.contiguous();
    return r;
  }
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != ax) r.order.push_back(d);
  r.order.push_back(ax);
  r.data = x.permute(r.order).contiguous();
  return r;
}

// The result laid out as rows (y: (other axes..., n)) back in x's axis order, contiguous.
Tensor from_axis_rows(const Tensor& y, const AxisRows& r) {
  if (r.order.empty()) return y;
  std::vector<int64_t> inverse(r.order.size());
  for (size_t k = 0; k < r.order.size(); ++k) inverse[r.order[k]] = static_cast<int64_t>(k);
  return y.permute(inverse).contiguous();
}

Tensor softmax_impl(const Tensor& x, int64_t axis, SoftmaxKind kind, const char* op) {
  check_floating(x, op);
  if (x.dim() == 0) return softmax_impl(x.reshape({1}), 0, kind, op).reshape({});
  const AxisRows r = axis_rows(x, x.normalize_axis(axis, op));  // (rows, n)
  // When laying out the rows needed a copy, the copy is overwritten with the result;
  // otherwise (x itself) the result goes to a new tensor.
  Tensor y = r.data.storage() == x.storage() ? Tensor::empty(r.data.shape(), x.dtype()) : r.data;
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_rows<T>(r.data.data<T>(), y.data<T>(), r.rows, r.n, T(1), nullptr, 1, kind);
  });
  return from_axis_rows(y, r);
}

Tensor softmax_backward_impl(const Tensor& y, const Tensor& grad_out, int64_t axis, SoftmaxKind kind, const char* op) {
  check_floating(y, op);
  check_defined(grad_out, op);
  TD_CHECK(grad_out.shape() == y.shape() && grad_out.dtype() == y.dtype(), op,
           fmt::format("expected grad_out of the output's shape and dtype {} {}, got {} {}", shape_str(y.shape()),
                       dtype_name(y.dtype()), shape_str(grad_out.shape()), dtype_name(grad_out.dtype())));
  if (y.dim() == 0) return softmax_backward_impl(y.reshape({1}), grad_out.reshape({1}), 0, kind, op).reshape({});
  const int64_t ax = y.normalize_axis(axis, op);
  const AxisRows yr = axis_rows(y, ax), gr = axis_rows(grad_out, ax);  // (rows, n) each
  // The gradient's rows are overwritten when they are a copy; otherwise dx is a new tensor.
  Tensor dx = gr.data.storage() == grad_out.storage() ? Tensor::empty(gr.data.shape(), y.dtype()) : gr.data;
  dispatch_floating(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_rows<T>(yr.data.data<T>(), gr.data.data<T>(), dx.data<T>(), yr.rows, yr.n, 1.0, kind);
  });
  return from_axis_rows(dx, gr);
}

// Rows of the last axis of a contiguous tensor: (rows, n).
void last_axis_rows(const Tensor& t, const char* op, int64_t& rows, int64_t& n) {
  check_floating(t, op);
  TD_CHECK(t.dim() >= 1 && t.is_contiguous(), op,
           fmt::format("expected a contiguous tensor with at least one axis, got {}{}", shape_str(t.shape()),
                       t.dim() >= 1 ? " (not contiguous)" : ""));
  n = t.shape().back();
  rows = shape_numel(Shape(t.shape().begin(), t.shape().end() - 1));
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, SoftmaxKind::Softmax, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t axis) {
  return softmax_impl(x, axis, SoftmaxKind::LogSoftmax, "log_softmax");
}

Tensor softmax_backward(const Tensor& y, const Tensor& grad_out, int64_t axis) {
  return softmax_backward_impl(y, grad_out, axis, SoftmaxKind::Softmax, "softmax_backward");
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& grad_out, int64_t axis) {
  return softmax_backward_impl(y, grad_out, axis, SoftmaxKind::LogSoftmax, "log_softmax_backward");
}

void masked_softmax_(Tensor& scores, const Tensor& key_mask, double scale) {
  const char* op = "masked_softmax_";
  int64_t rows = 0, n = 0;
  last_axis_rows(scores, op, rows, n);  // scores: (rows, Lk)
  int64_t rows_per_mask = 1;
  if (key_mask.defined()) {
    const int64_t b = key_mask.dim() == 2 ? key_mask.size(0) : 0;
    TD_CHECK(key_mask.dim() == 2 && key_mask.size(1) == n && key_mask.dtype() == scores.dtype() &&
                 key_mask.is_contiguous() && (b > 0 ? rows % b == 0 : rows == 0),
             op,
             fmt::format("expected a contiguous key_mask (B, Lk) of dtype {} with Lk = {} and B dividing the {} rows "
                         "of scores {}, got {} {}",
                         dtype_name(scores.dtype()), n, rows, shape_str(scores.shape()), shape_str(key_mask.shape()),
                         dtype_name(key_mask.dtype())));
    if (b > 0) rows_per_mask = rows / b;
  }
  dispatch_floating(scores.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* p = scores.data<T>();
    softmax_rows<T>(p, p, rows, n, static_cast<T>(scale), key_mask.defined() ? key_mask.data<T>() : nullptr,
                    rows_per_mask, SoftmaxKind::Softmax);
  });
}

void masked_softmax_backward_(const Tensor& probs, Tensor& grad, double scale) {
  const char* op = "masked_softmax_backward_";
  int64_t rows = 0, n = 0;
  last_axis_rows(probs, op, rows, n);  // probs: (rows, Lk)
  last_axis_rows(grad, op, rows, n);   // grad: (rows, Lk)
  TD_CHECK(grad.shape() == probs.shape() && grad.dtype() == probs.dtype(), op,
           fmt::format("grad {} {} must have the shape and dtype of probs {} {}", shape_str(grad.shape()),
                       dtype_name(grad.dtype()), shape_str(probs.shape()), dtype_name(probs.dtype())));
  dispatch_floating(probs.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* g = grad.data<T>();
    softmax_backward_rows<T>(probs.data<T>(), g, g, rows, n, scale, SoftmaxKind::Softmax);
  });
}

// ---------------------------------------------------------------------------------------
// Naive references

Tensor softmax_naive(const Tensor& x, int64_t axis) {
  const Tensor e = exp(sub(x, max(x, {axis}, true)));  // e^(x - m), m: the maximum along the axis
  return div(e, sum(e, {axis}, true));
}

Tensor log_softmax_naive(const Tensor& x, int64_t axis) { return sub(x, logsumexp(x, {axis}, true)); }

Tensor softmax_backward_naive(const Tensor& y, const Tensor& grad_out, int64_t axis) {
  return mul(y, sub(grad_out, sum(mul(grad_out, y), {axis}, true)));
}

Tensor log_softmax_backward_naive(const Tensor& y, const Tensor& grad_out, int64_t axis) {
  return sub(grad_out, mul(exp(y), sum(grad_out, {axis}, true)));
}

Tensor masked_softmax_naive(const Tensor& scores, const Tensor& key_mask, double scale) {
  const Tensor s = scores.contiguous();  // s: (..., Lk) seen as (rows, Lk)
  const int64_t n = s.size(-1), rows = n > 0 ? s.numel() / n : 0;
  const std::vector<double> sv = s.to_vector();
  const std::vector<double> mv = key_mask.defined() ? key_mask.to_vector() : std::vector<double>();
  const int64_t per_mask = key_mask.defined() && key_mask.size(0) > 0 ? rows / key_mask.size(0) : 1;
  std::vector<double> p(sv.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double* mask = key_mask.defined() ? mv.data() + (r / per_mask) * n : nullptr;
    auto kept = [&](int64_t j) { return mask == nullptr || mask[j] != 0.0; };
    double m = -std::numeric_limits<double>::infinity(), total = 0.0;
    for (int64_t j = 0; j < n; ++j)
      if (kept(j)) m = std::max(m, scale * sv[r * n + j]);
    if (m == -std::numeric_limits<double>::infinity()) continue;  // every key masked: zeros
    for (int64_t j = 0; j < n; ++j)
      if (kept(j)) total += std::exp(scale * sv[r * n + j] - m);
    for (int64_t j = 0; j < n; ++j)
      if (kept(j)) p[r * n + j] = std::exp(scale * sv[r * n + j] - m) / total;
  }
  return Tensor::from_vector(p, s.shape(), s.dtype());
}

Tensor masked_softmax_backward_naive(const Tensor& probs, const Tensor& grad, double scale) {
  return mul(mul(probs, sub(grad, sum(mul(grad, probs), {-1}, true))), scale);
}

}  // namespace tinydiff
