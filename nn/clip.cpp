// Global gradient-norm clipping. See clip.h.
#include "nn/clip.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tensor/dispatch.h"

namespace tinydiff {
namespace {

constexpr int64_t kBlock = 4096;  // elements per partial sum (fixed: thread-count independent)

// Sum of squares of `t` (contiguous, floating) in double, blockwise.
double sum_of_squares(const Tensor& t) {
  const int64_t n = t.numel();
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  dispatch_floating(t.dtype(), "clip_grad_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    parallel_for(blocks, 2 * kBlock, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        double s = 0.0;
        const int64_t end = std::min(n, (b + 1) * kBlock);
        for (int64_t i = b * kBlock; i < end; ++i) s += static_cast<double>(p[i]) * static_cast<double>(p[i]);
        partial[static_cast<size_t>(b)] = s;
      }
    });
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace

double grad_norm(const std::vector<Variable>& params) {
  double total = 0.0;
  for (const Variable& p : params)
    if (p.defined() && p.has_grad()) total += sum_of_squares(p.grad().contiguous());
  return std::sqrt(total);
}

double clip_grad_norm(const std::vector<Variable>& params, double max_norm, bool error_if_nonfinite) {
  TD_CHECK(max_norm > 0.0, "clip_grad_norm", fmt::format("max_norm must be > 0, got {}", max_norm));
  const double norm = grad_norm(params);
  TD_CHECK(!error_if_nonfinite || std::isfinite(norm), "clip_grad_norm",
           fmt::format("the total gradient norm is {}; a gradient holds NaN or inf", norm));
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;  // nothing to do (NaN coef falls through and poisons, as in PyTorch)
  for (const Variable& p : params) {
    if (!p.defined() || !p.has_grad()) continue;
    Tensor g = p.grad();
    if (!g.is_contiguous()) {
      g = g.contiguous();
      Variable(p).set_grad(g);
    }
    dispatch_floating(g.dtype(), "clip_grad_norm", [&](auto tag) {
      using T = decltype(tag);
      T* pg = g.data<T>();
      const T c = static_cast<T>(coef);
      parallel_for(g.numel(), 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) pg[i] *= c;
      });
    });
  }
  return norm;
}

}  // namespace tinydiff
