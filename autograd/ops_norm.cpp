// Differentiable layer_norm and group_norm with fused forward/backward kernels. See ops_norm.h.
#include "autograd/ops_norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "autograd/ops_shape.h"
#include "tensor/tensor.h"

namespace tinydiff {

namespace {

// Both norms in one layout: a contiguous x seen as (batch, groups, channels_per_group, spatial).
// Row r = b * groups + g is one normalisation group of n = channels_per_group * spatial values,
// contiguous in memory; element j of row r belongs to channel (r % groups) * cpg + j / spatial.
//   layer_norm: (rows, 1, C, 1);   group_norm: (B, G, C / G, H * W).
struct NormGeometry {
  int64_t batch = 1, groups = 1, cpg = 1, spatial = 1;
  int64_t rows() const { return batch * groups; }
  int64_t n() const { return cpg * spatial; }
  int64_t channels() const { return groups * cpg; }
};

// Forward: per row, mean and rstd = 1 / sqrt(biased var + eps), then y = (x - mean) * rstd * w + b.
// x, y: (rows, n); w, b: (channels) or nullptr; mean, rstd: (rows).
template <typename T>
void norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, NormGeometry geo, double eps) {
  const int64_t n = geo.n();
  parallel_for(geo.rows(), 8 * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += xr[j];
      const double m = n > 0 ? s / static_cast<double>(n) : 0.0;
      double ss = 0;  // two passes: sum of squared deviations, no cancellation
      for (int64_t j = 0; j < n; ++j) ss += (xr[j] - m) * (xr[j] - m);
      const double var = n > 0 ? ss / static_cast<double>(n) : 0.0;
      const double rs = 1.0 / std::sqrt(var + eps);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
      const int64_t c0 = (r % geo.groups) * geo.cpg;
      for (int64_t cl = 0; cl < geo.cpg; ++cl) {
        const T wc = w ? w[c0 + cl] : T(1), bc = b ? b[c0 + cl] : T(0);
        for (int64_t s2 = 0; s2 < geo.spatial; ++s2) {
          const int64_t j = cl * geo.spatial + s2;
          yr[j] = (xr[j] - mt) * rt * wc + bc;
        }
      }
    }
  });
}

// Backward, input part (parallel over rows): with xhat = (x - mean) * rstd and dxhat = g * w,
//   dx = rstd * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat)).
template <typename T>
void norm_backward_input(const T* x, const T* w, const T* mean, const T* rstd, const T* g, T* dx, NormGeometry geo) {
  const int64_t n = geo.n();
  parallel_for(geo.rows(), 12 * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      const T* gr = g + r * n;
      T* dr = dx + r * n;
      const T m = mean[r], rs = rstd[r];
      const int64_t c0 = (r % geo.groups) * geo.cpg;
      double sum_dxhat = 0, sum_dxhat_xhat = 0;
      for (int64_t cl = 0; cl < geo.cpg; ++cl) {
        const T wc = w ? w[c0 + cl] : T(1);
        for (int64_t s = 0; s < geo.spatial; ++s) {
          const int64_t j = cl * geo.spatial + s;
          const T dxhat = gr[j] * wc;
          sum_dxhat += dxhat;
          sum_dxhat_xhat += static_cast<double>(dxhat) * ((xr[j] - m) * rs);
        }
      }
      const T a = static_cast<T>(sum_dxhat / static_cast<double>(n));
      const T c = static_cast<T>(sum_dxhat_xhat / static_cast<double>(n));
      for (int64_t cl = 0; cl < geo.cpg; ++cl) {
        const T wc = w ? w[c0 + cl] : T(1);
        for (int64_t s = 0; s < geo.spatial; ++s) {
          const int64_t j = cl * geo.spatial + s;
          const T xhat = (xr[j] - m) * rs;
          dr[j] = rs * (gr[j] * wc - a - xhat * c);
        }
      }
    }
  });
}

// Backward, parameter part (parallel over channels): dw_c = sum g * xhat, db_c = sum g over every
// (batch, spatial) position of channel c. Either output may be nullptr (not wanted).
template <typename T>
void norm_backward_params(const T* x, const T* mean, const T* rstd, const T* g, T* dw, T* db, NormGeometry geo) {
  const int64_t channels = geo.channels(), n = geo.n();
  parallel_for(channels, 4 * geo.batch * geo.spatial, [&](int64_t begin, int64_t end) {
    std::vector<double> acc_w(end - begin, 0.0), acc_b(end - begin, 0.0);
    for (int64_t bi = 0; bi < geo.batch; ++bi) {  // rows outermost: the inner loops stay contiguous
      for (int64_t c = begin; c < end; ++c) {
        const int64_t r = bi * geo.groups + c / geo.cpg;
        const int64_t base = r * n + (c % geo.cpg) * geo.spatial;
        const T m = mean[r], rs = rstd[r];
        double sw = 0, sb = 0;
        for (int64_t s = 0; s < geo.spatial; ++s) {
          const T gv = g[base + s];
          sw += static_cast<double>(gv) * ((x[base + s] - m) * rs);
          sb += gv;
        }
        acc_w[c - begin] += sw;
        acc_b[c - begin] += sb;
      }
    }
    for (int64_t c = begin; c < end; ++c) {
      if (dw) dw[c] = static_cast<T>(acc_w[c - begin]);
      if (db) db[c] = static_cast<T>(acc_b[c - begin]);
    }
  });
}

// Shared driver: checks parameters, runs the forward kernel and records the fused backward.
Variable norm_impl(const char* op, const Variable& x, const Variable& weight, const Variable& bias, NormGeometry geo,
                   double eps) {
  const Tensor xv = x.value().contiguous();  // x: (batch, groups, cpg, spatial) as laid out above
  check_floating(xv, op);
  TD_CHECK(eps >= 0, op, fmt::format("eps must be non-negative, got {}", eps));
  const int64_t channels = geo.channels();
  Tensor wv, bv;
  for (int i = 0; i < 2; ++i) {
    const Variable& p = i == 0 ? weight : bias;
    if (!p.defined()) continue;
    const Tensor t = p.value().contiguous();  // (C)
    TD_CHECK(t.shape() == Shape{channels} && t.dtype() == xv.dtype(), op,
             fmt::format("{} must have shape {} and dtype {} for input {}, got {} {}", i == 0 ? "weight" : "bias",
                         shape_str({channels}), dtype_name(xv.dtype()), shape_str(xv.shape()), shape_str(t.shape()),
                         dtype_name(t.dtype())));
    (i == 0 ? wv : bv) = t;
  }
  Tensor y = Tensor::empty(xv.shape(), xv.dtype());       // y: shape of x
  Tensor mean = Tensor::empty({geo.rows()}, xv.dtype());  // mean: (rows)
  Tensor rstd = Tensor::empty({geo.rows()}, xv.dtype());  // rstd: (rows)
  dispatch_floating(xv.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    norm_forward<T>(xv.data<T>(), wv.defined() ? wv.data<T>() : nullptr, bv.defined() ? bv.data<T>() : nullptr,
                    y.data<T>(), mean.data<T>(), rstd.data<T>(), geo, eps);
  });

  const bool need_x = x.requires_grad();
  const bool need_w = weight.defined() && weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  // Saved: x, mean, rstd (to rebuild xhat) and, when x needs a gradient, the weight (dxhat = g * w).
  const Tensor w_saved = need_x ? wv : Tensor();
  return make_result(
      op, y, {x, weight, bias},
      [xv, w_saved, mean, rstd, geo, need_x, need_w, need_b, op](const Tensor& grad) -> std::vector<Tensor> {
        const Tensor g = grad.contiguous();
        std::vector<Tensor> grads(3);
        dispatch_floating(xv.dtype(), op, [&](auto tag) {
          using T = decltype(tag);
          // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
          if (need_x) {
            grads[0] = Tensor::empty(xv.shape(), xv.dtype());
            norm_backward_input<T>(xv.data<T>(), w_saved.defined() ? w_saved.data<T>() : nullptr, mean.data<T>(),
                                   rstd.data<T>(), g.data<T>(), grads[0].data<T>(), geo);
          }
          // dweight_c = sum g * xhat, dbias_c = sum g, over the positions of channel c
          if (need_w) grads[1] = Tensor::empty({geo.channels()}, xv.dtype());
          if (need_b) grads[2] = Tensor::empty({geo.channels()}, xv.dtype());
          if (need_w || need_b)
            norm_backward_params<T>(xv.data<T>(), mean.data<T>(), rstd.data<T>(), g.data<T>(),
                                    need_w ? grads[1].data<T>() : nullptr, need_b ? grads[2].data<T>() : nullptr, geo);
        });
        return grads;
      });
}

}  // namespace

Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  const Shape& s = x.shape();  // x: (..., C)
  TD_CHECK(!s.empty(), "layer_norm", "expected an input with at least one axis (..., C), got a 0-d tensor");
  NormGeometry geo;
  geo.cpg = s.back();
  geo.batch = geo.cpg > 0 ? x.numel() / geo.cpg : shape_numel(Shape(s.begin(), s.end() - 1));
  return norm_impl("layer_norm", x, weight, bias, geo, eps);
}

Variable group_norm(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  const Shape& s = x.shape();  // x: (B, C, *)
  TD_CHECK(s.size() >= 2, "group_norm",
           fmt::format("expected an input of shape (B, C, *) such as (B, C, H, W), got {}", shape_str(s)));
  const int64_t channels = s[1];
  TD_CHECK(groups > 0 && channels % groups == 0, "group_norm",
           fmt::format("channels ({}) of input {} must be divisible by groups ({})", channels, shape_str(s), groups));
  NormGeometry geo;
  geo.batch = s[0];
  geo.groups = groups;
  geo.cpg = channels / groups;
  geo.spatial = shape_numel(Shape(s.begin() + 2, s.end()));
  return norm_impl("group_norm", x, weight, bias, geo, eps);
}

Variable layer_norm_naive(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  // x: (..., C); biased variance, eps inside the root
  Variable y = mul(sub(x, mean(x, {-1}, true)), rsqrt(add(var(x, {-1}, true, 0), eps)));
  if (weight.defined()) y = mul(y, weight);  // (C) broadcasts over the leading axes
  if (bias.defined()) y = add(y, bias);
  return y;
}

Variable group_norm_naive(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  const Shape s = x.shape();                     // x: (B, C, *)
  Variable xg = reshape(x, {s[0], groups, -1});  // (B, G, C/G * spatial)
  Variable y = mul(sub(xg, mean(xg, {2}, true)), rsqrt(add(var(xg, {2}, true, 0), eps)));
  y = reshape(y, s);  // (B, C, *)
  Shape ps(s.size(), 1);
  ps[1] = s[1];  // (1, C, 1, ...)
  if (weight.defined()) y = mul(y, reshape(weight, ps));
  if (bias.defined()) y = add(y, reshape(bias, ps));
  return y;
}

}  // namespace tinydiff
