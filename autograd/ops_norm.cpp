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
#include "tensor/vec_math.h"

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

// Forward: per row, mean and rstd = 1 / sqrt(biased var + eps), then z = (x - mean) * rstd * w + b
// and y = z, or y = silu(z) = z sigmoid(z) when `silu` (GroupNorm + SiLU in one pass).
// x, y: (rows, n); w, b: (channels) or nullptr; mean, rstd: (rows).
template <typename T>
void norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, NormGeometry geo, double eps, bool silu) {
  const int64_t n = geo.n();
  parallel_for(geo.rows(), (silu ? 30 : 8) * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const double m = n > 0 ? lane_sum(n, [&](int64_t j) { return static_cast<double>(xr[j]); }) / n : 0.0;
      // two passes: sum of squared deviations, no cancellation
      const double ss = lane_sum(n, [&](int64_t j) {
        const double d = static_cast<double>(xr[j]) - m;
        return d * d;
      });
      const double var = n > 0 ? ss / static_cast<double>(n) : 0.0;
      const double rs = 1.0 / std::sqrt(var + eps);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
      const int64_t c0 = (r % geo.groups) * geo.cpg;
      for (int64_t cl = 0; cl < geo.cpg; ++cl) {
        const T wc = w ? w[c0 + cl] : T(1), bc = b ? b[c0 + cl] : T(0);
        const T* xs = xr + cl * geo.spatial;
        T* ys = yr + cl * geo.spatial;
        if (silu) {
          for (int64_t s2 = 0; s2 < geo.spatial; ++s2) {
            const T z = (xs[s2] - mt) * rt * wc + bc;
            ys[s2] = z * vsigmoid(z);
          }
        } else {
          for (int64_t s2 = 0; s2 < geo.spatial; ++s2) ys[s2] = (xs[s2] - mt) * rt * wc + bc;
        }
      }
    }
  });
}

// Backward, one pass over the rows (parallel over rows). With xhat = (x - mean) * rstd,
// dz = g (or, after a SiLU, dz = g * s (1 + z (1 - s)) with z = xhat w + b, s = sigmoid(z)) and
// dxhat = dz * w:
//   dx = rstd * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat))           (when dx != nullptr)
//   pw[r, cl] = sum over the row's positions of channel cl of dz * xhat, pb[r, cl] = sum of dz
// (per-row partial sums of the parameter gradients, added over the batch afterwards in a fixed
// order; pw/pb may be nullptr).
template <typename T>
void norm_backward_rows(const T* x, const T* w, const T* b, const T* mean, const T* rstd, const T* g, T* dx, double* pw,
                        double* pb, NormGeometry geo, bool silu) {
  const int64_t n = geo.n(), spatial = geo.spatial;
  parallel_for(geo.rows(), (silu ? 40 : 14) * n, [&](int64_t begin, int64_t end) {
    std::vector<T> buf(silu ? static_cast<size_t>(n) : 0);  // this thread's dz row
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      const T* gr = g + r * n;
      const T m = mean[r], rs = rstd[r];
      const int64_t c0 = (r % geo.groups) * geo.cpg;
      const T* dz = gr;
      if (silu) {
        for (int64_t cl = 0; cl < geo.cpg; ++cl) {
          const T wc = w ? w[c0 + cl] : T(1), bc = b ? b[c0 + cl] : T(0);
          const T* xs = xr + cl * spatial;
          const T* gs = gr + cl * spatial;
          T* ds = buf.data() + cl * spatial;
          for (int64_t s = 0; s < spatial; ++s) {
            const T z = (xs[s] - m) * rs * wc + bc;
            const T sg = vsigmoid(z);
            ds[s] = gs[s] * (sg * (T(1) + z * (T(1) - sg)));
          }
        }
        dz = buf.data();
      }
      double sum_dxhat = 0, sum_dxhat_xhat = 0;
      if (spatial == 1) {  // layer_norm: the channel is the position in the row (vectorised loops)
        const T* wr = w ? w + c0 : nullptr;
        for (int64_t j = 0; j < n; ++j) {
          const T xhat = (xr[j] - m) * rs;
          if (pw) pw[r * n + j] = static_cast<double>(dz[j]) * xhat;
          if (pb) pb[r * n + j] = static_cast<double>(dz[j]);
        }
        sum_dxhat = lane_sum(n, [&](int64_t j) { return static_cast<double>(wr ? wr[j] : T(1)) * dz[j]; });
        sum_dxhat_xhat =
            lane_sum(n, [&](int64_t j) { return static_cast<double>(wr ? wr[j] : T(1)) * dz[j] * ((xr[j] - m) * rs); });
      }
      for (int64_t cl = 0; cl < geo.cpg && spatial != 1; ++cl) {
        const T* xs = xr + cl * spatial;
        const T* ds = dz + cl * spatial;
        const double sd = lane_sum(spatial, [&](int64_t s) { return static_cast<double>(ds[s]); });
        const double sdx =
            lane_sum(spatial, [&](int64_t s) { return static_cast<double>(ds[s]) * ((xs[s] - m) * rs); });
        if (pw) pw[r * geo.cpg + cl] = sdx;
        if (pb) pb[r * geo.cpg + cl] = sd;
        const double wc = w ? static_cast<double>(w[c0 + cl]) : 1.0;
        sum_dxhat += wc * sd;
        sum_dxhat_xhat += wc * sdx;
      }
      if (!dx) continue;
      T* dr = dx + r * n;
      const T a = static_cast<T>(sum_dxhat / static_cast<double>(n));
      const T c = static_cast<T>(sum_dxhat_xhat / static_cast<double>(n));
      for (int64_t cl = 0; cl < geo.cpg; ++cl) {
        const T wc = w ? w[c0 + cl] : T(1);
        const T* xs = xr + cl * spatial;
        const T* ds = dz + cl * spatial;
        T* dd = dr + cl * spatial;
        for (int64_t s = 0; s < spatial; ++s) {
          const T xhat = (xs[s] - m) * rs;
          dd[s] = rs * (ds[s] * wc - a - xhat * c);
        }
      }
    }
  });
}

// Parameter gradients from the per-row partial sums: out[c] = sum over b of part[(b, group(c)), c % cpg],
// in the order b = 0, 1, ... (parallel over channels).
template <typename T>
void reduce_param_partials(const double* part, T* out, NormGeometry geo) {
  parallel_for(geo.channels(), geo.batch, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t gi = c / geo.cpg, cl = c % geo.cpg;
      double acc = 0;
      for (int64_t bi = 0; bi < geo.batch; ++bi) acc += part[(bi * geo.groups + gi) * geo.cpg + cl];
      out[c] = static_cast<T>(acc);
    }
  });
}

// Shared driver: checks parameters, runs the forward kernel and records the fused backward.
Variable norm_impl(const char* op, const Variable& x, const Variable& weight, const Variable& bias, NormGeometry geo,
                   double eps, bool silu) {
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
                    y.data<T>(), mean.data<T>(), rstd.data<T>(), geo, eps, silu);
  });

  const bool need_x = x.requires_grad();
  const bool need_w = weight.defined() && weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  // Saved: x, mean, rstd (to rebuild xhat), the weight (dxhat = dz * w, and z for the SiLU) and,
  // with the SiLU, the bias (z = xhat w + b). The output y is not saved.
  const Tensor w_saved = need_x || silu ? wv : Tensor();
  const Tensor b_saved = silu ? bv : Tensor();
  return make_result(op, y, {x, weight, bias},
                     [xv, w_saved, b_saved, mean, rstd, geo, need_x, need_w, need_b, silu, op](const Tensor& grad) {
                       const Tensor g = grad.contiguous();
                       std::vector<Tensor> grads(3);
                       dispatch_floating(xv.dtype(), op, [&](auto tag) {
                         using T = decltype(tag);
                         if (need_x) grads[0] = Tensor::empty(xv.shape(), xv.dtype());
                         // Per-row partial sums of dweight_c = sum dz * xhat and dbias_c = sum dz.
                         std::vector<double> pw(need_w ? static_cast<size_t>(geo.rows() * geo.cpg) : 0);
                         std::vector<double> pb(need_b ? static_cast<size_t>(geo.rows() * geo.cpg) : 0);
                         norm_backward_rows<T>(xv.data<T>(), w_saved.defined() ? w_saved.data<T>() : nullptr,
                                               b_saved.defined() ? b_saved.data<T>() : nullptr, mean.data<T>(),
                                               rstd.data<T>(), g.data<T>(), need_x ? grads[0].data<T>() : nullptr,
                                               need_w ? pw.data() : nullptr, need_b ? pb.data() : nullptr, geo, silu);
                         if (need_w) {
                           grads[1] = Tensor::empty({geo.channels()}, xv.dtype());
                           reduce_param_partials<T>(pw.data(), grads[1].data<T>(), geo);
                         }
                         if (need_b) {
                           grads[2] = Tensor::empty({geo.channels()}, xv.dtype());
                           reduce_param_partials<T>(pb.data(), grads[2].data<T>(), geo);
                         }
                       });
                       return grads;
                     });
}

NormGeometry group_geometry(const Variable& x, int64_t groups, const char* op) {
  const Shape& s = x.shape();  // x: (B, C, *)
  TD_CHECK(s.size() >= 2, op,
           fmt::format("expected an input of shape (B, C, *) such as (B, C, H, W), got {}", shape_str(s)));
  const int64_t channels = s[1];
  TD_CHECK(groups > 0 && channels % groups == 0, op,
           fmt::format("channels ({}) of input {} must be divisible by groups ({})", channels, shape_str(s), groups));
  NormGeometry geo;
  geo.batch = s[0];
  geo.groups = groups;
  geo.cpg = channels / groups;
  geo.spatial = shape_numel(Shape(s.begin() + 2, s.end()));
  return geo;
}

}  // namespace

Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  const Shape& s = x.shape();  // x: (..., C)
  TD_CHECK(!s.empty(), "layer_norm", "expected an input with at least one axis (..., C), got a 0-d tensor");
  NormGeometry geo;
  geo.cpg = s.back();
  geo.batch = geo.cpg > 0 ? x.numel() / geo.cpg : shape_numel(Shape(s.begin(), s.end() - 1));
  return norm_impl("layer_norm", x, weight, bias, geo, eps, false);
}

Variable group_norm(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  return norm_impl("group_norm", x, weight, bias, group_geometry(x, groups, "group_norm"), eps, false);
}

Variable group_norm_silu(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias, double eps) {
  return norm_impl("group_norm_silu", x, weight, bias, group_geometry(x, groups, "group_norm_silu"), eps, true);
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

Variable group_norm_silu_naive(const Variable& x, int64_t groups, const Variable& weight, const Variable& bias,
                               double eps) {
  return silu(group_norm_naive(x, groups, weight, bias, eps));
}

}  // namespace tinydiff
