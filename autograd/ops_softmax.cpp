// Differentiable softmax / log-softmax with fused row kernels. See ops_softmax.h.
#include "autograd/ops_softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "tensor/tensor.h"

namespace tinydiff {

namespace {

// A contiguous tensor seen as (outer, n, inner), n being the softmax axis: row (o, i) holds
// the n elements o*n*inner + j*inner + i, j = 0..n-1.
struct RowGeometry {
  int64_t outer = 1, n = 1, inner = 1;
};

RowGeometry row_geometry(const Shape& shape, int64_t axis) {
  RowGeometry r;
  for (int64_t d = 0; d < axis; ++d) r.outer *= shape[d];
  r.n = shape[axis];
  for (int64_t d = axis + 1; d < static_cast<int64_t>(shape.size()); ++d) r.inner *= shape[d];
  return r;
}

// y = softmax(x) or log_softmax(x) along the rows. x, y: (outer, n, inner), contiguous.
template <typename T>
void softmax_forward(const T* x, T* y, RowGeometry r, bool log_output) {
  const int64_t rows = r.outer * r.inner;
  parallel_for(rows, 4 * r.n, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / r.inner, i = row % r.inner;
      const T* xr = x + o * r.n * r.inner + i;
      T* yr = y + o * r.n * r.inner + i;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < r.n; ++j) m = std::max(m, xr[j * r.inner]);
      double s = 0;  // exp in T (expf for float32), the sum accumulated in double
      if (log_output) {
        for (int64_t j = 0; j < r.n; ++j) s += std::exp(xr[j * r.inner] - m);
        // (x - m) - log s, not x - (m + log s): x - m is exact near the maximum, so large logits keep precision.
        const T log_s = static_cast<T>(std::log(s));
        for (int64_t j = 0; j < r.n; ++j) yr[j * r.inner] = (xr[j * r.inner] - m) - log_s;
      } else {
        for (int64_t j = 0; j < r.n; ++j) {
          const T e = std::exp(xr[j * r.inner] - m);
          yr[j * r.inner] = e;
          s += e;
        }
        const T inv = static_cast<T>(1.0 / s);
        for (int64_t j = 0; j < r.n; ++j) yr[j * r.inner] *= inv;
      }
    }
  });
}

// Backward of softmax_forward given its output y and the upstream gradient g:
//   softmax:     dx = y * (g - sum_j g_j y_j)
//   log_softmax: dx = g - exp(y) * sum_j g_j
template <typename T>
void softmax_backward(const T* y, const T* g, T* dx, RowGeometry r, bool log_output) {
  const int64_t rows = r.outer * r.inner;
  parallel_for(rows, 4 * r.n, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t base = (row / r.inner) * r.n * r.inner + row % r.inner;
      const T* yr = y + base;
      const T* gr = g + base;
      T* dr = dx + base;
      double s = 0;
      if (log_output) {
        for (int64_t j = 0; j < r.n; ++j) s += gr[j * r.inner];
        for (int64_t j = 0; j < r.n; ++j) {
          const int64_t k = j * r.inner;
          dr[k] = static_cast<T>(gr[k] - std::exp(yr[k]) * s);
        }
      } else {
        for (int64_t j = 0; j < r.n; ++j) s += static_cast<double>(gr[j * r.inner]) * yr[j * r.inner];
        for (int64_t j = 0; j < r.n; ++j) {
          const int64_t k = j * r.inner;
          dr[k] = static_cast<T>(yr[k] * (gr[k] - s));
        }
      }
    }
  });
}

Variable softmax_impl(const Variable& x, int64_t axis, bool log_output) {
  const char* op = log_output ? "log_softmax" : "softmax";
  const Tensor xv = x.value().contiguous();  // x: (outer, n, inner) around `axis`
  check_floating(xv, op);
  const int64_t ax = xv.normalize_axis(axis, op);
  const RowGeometry r = row_geometry(xv.shape(), ax);
  Tensor y = Tensor::empty(xv.shape(), xv.dtype());  // y: same shape as x
  dispatch_floating(xv.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_forward<T>(xv.data<T>(), y.data<T>(), r, log_output);
  });
  // Saves only the output y (softmax needs y; log_softmax needs exp(y) = softmax(x)).
  return make_result(op, y, {x}, [y, r, log_output, op](const Tensor& grad) -> std::vector<Tensor> {
    const Tensor g = grad.contiguous();
    Tensor dx = Tensor::empty(y.shape(), y.dtype());
    dispatch_floating(y.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      softmax_backward<T>(y.data<T>(), g.data<T>(), dx.data<T>(), r, log_output);
    });
    return {dx};
  });
}

}  // namespace

Variable softmax(const Variable& x, int64_t axis) { return softmax_impl(x, axis, false); }

Variable log_softmax(const Variable& x, int64_t axis) { return softmax_impl(x, axis, true); }

Variable softmax_naive(const Variable& x, int64_t axis) {
  const Variable m(max(x.value(), {axis}, true));  // constant shift: (..., 1, ...)
  const Variable e = exp(sub(x, m));
  return div(e, sum(e, {axis}, true));
}

Variable log_softmax_naive(const Variable& x, int64_t axis) { return sub(x, logsumexp(x, {axis}, true)); }

}  // namespace tinydiff
