// Layer norm, group norm and the fused GroupNorm + SiLU: forward and backward kernels, and the
// naive references. See norm.h.
#include "tensor/norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/dispatch.h"
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

NormGeometry group_geometry(const Shape& s, int64_t groups, const char* op) {
  // s: (B, C, *)
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

NormGeometry layer_geometry(const Shape& s, const char* op) {
  // s: (..., C)
  TD_CHECK(!s.empty(), op, "expected an input with at least one axis (..., C), got a 0-d tensor");
  NormGeometry geo;
  geo.cpg = s.back();
  geo.batch = geo.cpg > 0 ? shape_numel(s) / geo.cpg : shape_numel(Shape(s.begin(), s.end() - 1));
  return geo;
}

const char* group_op(NormActivation act) { return act == NormActivation::SiLU ? "group_norm_silu" : "group_norm"; }

// The weight and bias, contiguous (undefined stay undefined), checked against x: each (C), x's dtype.
void check_params(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, const NormGeometry& geo,
                  Tensor& wv, Tensor& bv) {
  const int64_t channels = geo.channels();
  for (int i = 0; i < 2; ++i) {
    const Tensor& p = i == 0 ? weight : bias;
    if (!p.defined()) continue;
    const Tensor t = p.contiguous();  // (C)
    TD_CHECK(t.shape() == Shape{channels} && t.dtype() == x.dtype(), op,
             fmt::format("{} must have shape {} and dtype {} for input {}, got {} {}", i == 0 ? "weight" : "bias",
                         shape_str({channels}), dtype_name(x.dtype()), shape_str(x.shape()), shape_str(t.shape()),
                         dtype_name(t.dtype())));
    (i == 0 ? wv : bv) = t;
  }
}

// The forward kernel on a checked geometry: y (shape of x), mean and rstd (rows).
NormForward forward_impl(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const NormGeometry& geo, double eps, bool silu) {
  const Tensor xv = x.contiguous();  // x: (batch, groups, cpg, spatial) as laid out above
  check_floating(xv, op);
  TD_CHECK(eps >= 0, op, fmt::format("eps must be non-negative, got {}", eps));
  Tensor wv, bv;
  check_params(op, xv, weight, bias, geo, wv, bv);
  NormForward f;
  f.y = Tensor::empty(xv.shape(), xv.dtype());       // y: shape of x
  f.mean = Tensor::empty({geo.rows()}, xv.dtype());  // mean: (rows)
  f.rstd = Tensor::empty({geo.rows()}, xv.dtype());  // rstd: (rows)
  dispatch_floating(xv.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    norm_forward<T>(xv.data<T>(), wv.defined() ? wv.data<T>() : nullptr, bv.defined() ? bv.data<T>() : nullptr,
                    f.y.data<T>(), f.mean.data<T>(), f.rstd.data<T>(), geo, eps, silu);
  });
  return f;
}

// The backward kernel: the input gradient and the per-row partial sums of the parameter
// gradients in one pass, then the partials added over the batch.
NormGrads backward_impl(const char* op, const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                        const Tensor& bias, const Tensor& mean, const Tensor& rstd, const NormGeometry& geo, bool silu,
                        bool need_input, bool need_weight, bool need_bias) {
  const Tensor xv = x.contiguous();        // x: (batch, groups, cpg, spatial)
  const Tensor g = grad_out.contiguous();  // g: shape of x
  check_floating(xv, op);
  TD_CHECK(g.shape() == xv.shape() && g.dtype() == xv.dtype() && mean.shape() == Shape{geo.rows()} &&
               rstd.shape() == mean.shape() && mean.dtype() == xv.dtype() && rstd.dtype() == xv.dtype(),
           op,
           fmt::format("expected grad_out {} {} and mean, rstd ({}), got grad_out {} {}, mean {}, rstd {}",
                       shape_str(xv.shape()), dtype_name(xv.dtype()), geo.rows(), shape_str(g.shape()),
                       dtype_name(g.dtype()), shape_str(mean.shape()), shape_str(rstd.shape())));
  Tensor wv, bv;
  check_params(op, xv, weight, bias, geo, wv, bv);
  NormGrads d;
  dispatch_floating(xv.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (need_input) d.input = Tensor::empty(xv.shape(), xv.dtype());
    // Per-row partial sums of dweight_c = sum dz * xhat and dbias_c = sum dz.
    std::vector<double> pw(need_weight ? static_cast<size_t>(geo.rows() * geo.cpg) : 0);
    std::vector<double> pb(need_bias ? static_cast<size_t>(geo.rows() * geo.cpg) : 0);
    norm_backward_rows<T>(xv.data<T>(), wv.defined() ? wv.data<T>() : nullptr,
                          silu && bv.defined() ? bv.data<T>() : nullptr, mean.data<T>(), rstd.data<T>(), g.data<T>(),
                          need_input ? d.input.data<T>() : nullptr, need_weight ? pw.data() : nullptr,
                          need_bias ? pb.data() : nullptr, geo, silu);
    if (need_weight) {
      d.weight = Tensor::empty({geo.channels()}, xv.dtype());
      reduce_param_partials<T>(pw.data(), d.weight.data<T>(), geo);
    }
    if (need_bias) {
      d.bias = Tensor::empty({geo.channels()}, xv.dtype());
      reduce_param_partials<T>(pb.data(), d.bias.data<T>(), geo);
    }
  });
  return d;
}

// Reference forward, plain loops in double: per row the two-pass mean and biased variance, then
// z = (x - mean) rstd w_c + b_c and y = z (or z sigmoid(z)).
NormForward forward_naive(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                          const NormGeometry& geo, double eps, bool silu) {
  check_floating(x, op);
  Tensor wt, bt;
  check_params(op, x, weight, bias, geo, wt, bt);
  const std::vector<double> xv = x.contiguous().to_vector();
  const std::vector<double> wv = wt.defined() ? wt.to_vector() : std::vector<double>(geo.channels(), 1.0);
  const std::vector<double> bv = bt.defined() ? bt.to_vector() : std::vector<double>(geo.channels(), 0.0);
  const int64_t n = geo.n();
  std::vector<double> y(xv.size()), mean(geo.rows()), rstd(geo.rows());
  for (int64_t r = 0; r < geo.rows(); ++r) {
    double m = 0, ss = 0;
    for (int64_t j = 0; j < n; ++j) m += xv[r * n + j];
    m = n > 0 ? m / n : 0.0;
    for (int64_t j = 0; j < n; ++j) ss += (xv[r * n + j] - m) * (xv[r * n + j] - m);
    mean[r] = m;
    rstd[r] = 1.0 / std::sqrt((n > 0 ? ss / n : 0.0) + eps);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = (r % geo.groups) * geo.cpg + j / geo.spatial;
      const double z = (xv[r * n + j] - m) * rstd[r] * wv[c] + bv[c];
      y[r * n + j] = silu ? z / (1.0 + std::exp(-z)) : z;
    }
  }
  return {Tensor::from_vector(y, x.shape(), x.dtype()), Tensor::from_vector(mean, {geo.rows()}, x.dtype()),
          Tensor::from_vector(rstd, {geo.rows()}, x.dtype())};
}

// Reference backward, plain loops in double, the statistics recomputed: per row xhat, dz = g (or
// g s (1 + z (1 - s)) after the SiLU, s = sigmoid(z)), dxhat = dz w_c, then
// dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dw_c += dz xhat, db_c += dz.
NormGrads backward_naive(const char* op, const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                         const Tensor& bias, const NormGeometry& geo, double eps, bool silu) {
  const NormForward f = forward_naive(op, x, weight, bias, geo, eps, false);  // for mean and rstd
  const std::vector<double> xv = x.contiguous().to_vector(), gv = grad_out.contiguous().to_vector();
  const std::vector<double> mean = f.mean.to_vector(), rstd = f.rstd.to_vector();
  const std::vector<double> wv = weight.defined() ? weight.to_vector() : std::vector<double>(geo.channels(), 1.0);
  const std::vector<double> bv = bias.defined() ? bias.to_vector() : std::vector<double>(geo.channels(), 0.0);
  const int64_t n = geo.n();
  std::vector<double> dx(xv.size()), dw(geo.channels(), 0.0), db(geo.channels(), 0.0);
  std::vector<double> xhat(n), dxhat(n);
  for (int64_t r = 0; r < geo.rows(); ++r) {
    double mean_dxhat = 0, mean_dxhat_xhat = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = (r % geo.groups) * geo.cpg + j / geo.spatial;
      xhat[j] = (xv[r * n + j] - mean[r]) * rstd[r];
      double dz = gv[r * n + j];
      if (silu) {
        const double z = xhat[j] * wv[c] + bv[c], s = 1.0 / (1.0 + std::exp(-z));
        dz *= s * (1.0 + z * (1.0 - s));
      }
      dw[c] += dz * xhat[j];
      db[c] += dz;
      dxhat[j] = dz * wv[c];
      mean_dxhat += dxhat[j] / n;
      mean_dxhat_xhat += dxhat[j] * xhat[j] / n;
    }
    for (int64_t j = 0; j < n; ++j) dx[r * n + j] = rstd[r] * (dxhat[j] - mean_dxhat - xhat[j] * mean_dxhat_xhat);
  }
  NormGrads d;
  d.input = Tensor::from_vector(dx, x.shape(), x.dtype());
  if (weight.defined()) d.weight = Tensor::from_vector(dw, {geo.channels()}, x.dtype());
  if (bias.defined()) d.bias = Tensor::from_vector(db, {geo.channels()}, x.dtype());
  return d;
}

}  // namespace

NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return forward_impl("layer_norm", x, weight, bias, layer_geometry(x.shape(), "layer_norm"), eps, false);
}

NormGrads layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool need_input, bool need_weight, bool need_bias) {
  return backward_impl("layer_norm_backward", grad_out, x, weight, Tensor(), mean, rstd,
                       layer_geometry(x.shape(), "layer_norm_backward"), false, need_input, need_weight, need_bias);
}

NormForward group_norm_forward(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                               NormActivation act) {
  const char* op = group_op(act);
  return forward_impl(op, x, weight, bias, group_geometry(x.shape(), groups, op), eps, act == NormActivation::SiLU);
}

NormGrads group_norm_backward(const Tensor& grad_out, const Tensor& x, int64_t groups, const Tensor& weight,
                              const Tensor& bias, const Tensor& mean, const Tensor& rstd, NormActivation act,
                              bool need_input, bool need_weight, bool need_bias) {
  const char* op = act == NormActivation::SiLU ? "group_norm_silu_backward" : "group_norm_backward";
  return backward_impl(op, grad_out, x, weight, bias, mean, rstd, group_geometry(x.shape(), groups, op),
                       act == NormActivation::SiLU, need_input, need_weight, need_bias);
}

NormForward layer_norm_forward_naive(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm_naive";
  return forward_naive(op, x, weight, bias, layer_geometry(x.shape(), op), eps, false);
}

NormGrads layer_norm_backward_naive(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                                    double eps) {
  const char* op = "layer_norm_backward_naive";
  return backward_naive(op, grad_out, x, weight, bias, layer_geometry(x.shape(), op), eps, false);
}

NormForward group_norm_forward_naive(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                                     double eps, NormActivation act) {
  const char* op = "group_norm_naive";
  return forward_naive(op, x, weight, bias, group_geometry(x.shape(), groups, op), eps, act == NormActivation::SiLU);
}

NormGrads group_norm_backward_naive(const Tensor& grad_out, const Tensor& x, int64_t groups, const Tensor& weight,
                                    const Tensor& bias, double eps, NormActivation act) {
  const char* op = "group_norm_backward_naive";
  return backward_naive(op, grad_out, x, weight, bias, group_geometry(x.shape(), groups, op), eps,
                        act == NormActivation::SiLU);
}

}  // namespace tinydiff
