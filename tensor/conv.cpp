// 2-d convolution by im2col + GEMM, its two gradient kernels, naive references, and nearest
// upsampling. See conv.h for the formulas.
#include "tensor/conv.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tensor/conv_winograd.h"
#include "tensor/dispatch.h"
#include "tensor/linalg.h"
#include "tensor/vec_math.h"

namespace tinydiff {

int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  TD_CHECK(stride >= 1, "conv_out_size", fmt::format("stride must be >= 1, got {}", stride));
  TD_CHECK(padding >= 0, "conv_out_size", fmt::format("padding must be >= 0, got {}", padding));
  TD_CHECK(kernel >= 1, "conv_out_size", fmt::format("kernel size must be >= 1, got {}", kernel));
  TD_CHECK(in + 2 * padding >= kernel, "conv_out_size",
           fmt::format("kernel {} is larger than the padded input {} (input {} + 2 x padding {})", kernel,
                       in + 2 * padding, in, padding));
  return (in + 2 * padding - kernel) / stride + 1;
}

namespace {

/// Extents of one convolution, validated.
struct ConvDims {
  int64_t B, Cin, H, W, Cout, kh, kw, Ho, Wo, stride, pad;
  int64_t K() const { return Cin * kh * kw; }                                    // rows of the im2col matrix
  int64_t HWo() const { return Ho * Wo; }                                        // columns of the im2col matrix
  bool direct() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }  // 1x1: x_b is already "cols"
  Shape out_shape() const { return {B, Cout, Ho, Wo}; }
};

ConvDims conv_dims(const char* op, const Shape& x, const Shape& w, int64_t stride, int64_t padding) {
  TD_CHECK(x.size() == 4, op, fmt::format("expected input of shape (B, C, H, W), got {}", shape_str(x)));
  TD_CHECK(w.size() == 4, op, fmt::format("expected weight of shape (Cout, Cin, kh, kw), got {}", shape_str(w)));
  TD_CHECK(x[1] == w[1], op,
           fmt::format("input {} has {} channels but weight {} expects {} input channels", shape_str(x), x[1],
                       shape_str(w), w[1]));
  TD_CHECK(stride >= 1 && padding >= 0, op,
           fmt::format("expected stride >= 1 and padding >= 0, got stride {} and padding {}", stride, padding));
  TD_CHECK(x[2] + 2 * padding >= w[2] && x[3] + 2 * padding >= w[3], op,
           fmt::format("kernel {}x{} is larger than the padded input {}x{} (input {}, padding {})", w[2], w[3],
                       x[2] + 2 * padding, x[3] + 2 * padding, shape_str(x), padding));
  TD_CHECK(w[2] >= 1 && w[3] >= 1, op, fmt::format("empty kernel in weight {}", shape_str(w)));
  ConvDims d{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, stride, padding};
  d.Ho = conv_out_size(d.H, d.kh, stride, padding);
  d.Wo = conv_out_size(d.W, d.kw, stride, padding);
  return d;
}

void check_grad_out(const char* op, const Tensor& g, const ConvDims& d) {
  check_floating(g, op);
  TD_CHECK(g.shape() == d.out_shape(), op,
           fmt::format("grad_out has shape {} but the convolution's output is {}", shape_str(g.shape()),
                       shape_str(d.out_shape())));
}

void check_same_dtype(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  TD_CHECK(a.dtype() == b.dtype(), op,
           fmt::format("dtypes differ: {} is {}, {} is {}", an, dtype_name(a.dtype()), bn, dtype_name(b.dtype())));
}

/// Columns [j_lo, j_hi) of an output row whose input column j*s + v - p lies inside [0, W).
void valid_cols(int64_t W, int64_t Wo, int64_t s, int64_t v, int64_t p, int64_t& j_lo, int64_t& j_hi) {
  j_lo = p - v <= 0 ? 0 : (p - v + s - 1) / s;
  j_hi = W - 1 + p - v < 0 ? 0 : std::min<int64_t>((W - 1 + p - v) / s + 1, Wo);
  j_lo = std::min(j_lo, j_hi);
}

/// im2col for channels [c0, c1) of one image: x (Cin, H, W) -> cols (Cin kh kw, Ho Wo), row
/// (c, u, v) holding x[c, s i + u - p, s j + v - p] (zero outside the image) at column i Wo + j.
template <typename T>
void im2col(const T* x, const ConvDims& d, int64_t c0, int64_t c1, T* cols) {
  const int64_t s = d.stride, p = d.pad, HWo = d.HWo();
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t u = 0; u < d.kh; ++u)
      for (int64_t v = 0; v < d.kw; ++v) {
        T* row = cols + ((c * d.kh + u) * d.kw + v) * HWo;
        const T* xc = x + c * d.H * d.W;
        int64_t j_lo, j_hi;
        valid_cols(d.W, d.Wo, s, v, p, j_lo, j_hi);
        if (s == 1 && d.Wo == d.W) {
          // "Same"-width convolution (e.g. 3x3, padding 1): the valid output rows [ilo, ihi)
          // read consecutive input rows, so they are one block copy shifted by v - p; values
          // that wrap across row ends land in the border columns, which are then zeroed.
          const int64_t shift = v - p;
          const int64_t ilo = std::clamp<int64_t>(p - u, 0, d.Ho), ihi = std::clamp<int64_t>(d.H + p - u, ilo, d.Ho);
          std::fill(row, row + ilo * d.W, T(0));
          std::fill(row + ihi * d.W, row + HWo, T(0));
          T* dst = row + ilo * d.W;
          const T* src = xc + (ilo + u - p) * d.W;  // dst[r] = src[r + shift]
          const int64_t len = (ihi - ilo) * d.W, r0 = std::max<int64_t>(0, -shift);
          const int64_t r1 = std::max(r0, len - std::max<int64_t>(0, shift));
          for (int64_t r = r0; r < r1; ++r) dst[r] = src[r + shift];
          for (int64_t i = 0; i < ihi - ilo; ++i) {
            for (int64_t j = 0; j < j_lo; ++j) dst[i * d.W + j] = T(0);
            for (int64_t j = j_hi; j < d.W; ++j) dst[i * d.W + j] = T(0);
          }
          continue;
        }
        for (int64_t i = 0; i < d.Ho; ++i) {
          T* dst = row + i * d.Wo;
          const int64_t hi = i * s + u - p;
          if (hi < 0 || hi >= d.H) {
            std::fill(dst, dst + d.Wo, T(0));
            continue;
          }
          const T* src = xc + hi * d.W;  // output column j reads input column s j + v - p
          const int64_t shift = v - p;
          for (int64_t j = 0; j < j_lo; ++j) dst[j] = T(0);
          if (s == 1) {
            for (int64_t j = j_lo; j < j_hi; ++j) dst[j] = src[j + shift];
          } else {
            for (int64_t j = j_lo; j < j_hi; ++j) dst[j] = src[j * s + shift];
          }
          for (int64_t j = j_hi; j < d.Wo; ++j) dst[j] = T(0);
        }
      }
}

/// col2im for channels [c0, c1) of one image, the adjoint of im2col: dx[c, s i + u - p, s j + v - p]
/// += cols[(c, u, v), i Wo + j]. dx must be zeroed first; each channel is written by one caller,
/// in a fixed order. `cols` is scratch: the fast path zeroes its entries that fall outside the image.
template <typename T>
void col2im(T* cols, const ConvDims& d, int64_t c0, int64_t c1, T* dx) {
  const int64_t s = d.stride, p = d.pad, HWo = d.HWo();
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t u = 0; u < d.kh; ++u)
      for (int64_t v = 0; v < d.kw; ++v) {
        T* row = cols + ((c * d.kh + u) * d.kw + v) * HWo;
        T* xc = dx + c * d.H * d.W;
        int64_t j_lo, j_hi;
        valid_cols(d.W, d.Wo, s, v, p, j_lo, j_hi);
        if (s == 1 && d.Wo == d.W) {
          // The block form of im2col's fast path: zero the border columns (they would wrap
          // into the neighbouring row), then add the valid rows as one shifted block.
          const int64_t shift = v - p;
          const int64_t ilo = std::clamp<int64_t>(p - u, 0, d.Ho), ihi = std::clamp<int64_t>(d.H + p - u, ilo, d.Ho);
          T* src = row + ilo * d.W;
          T* dst = xc + (ilo + u - p) * d.W;  // dst[r + shift] += src[r]
          for (int64_t i = 0; i < ihi - ilo; ++i) {
            for (int64_t j = 0; j < j_lo; ++j) src[i * d.W + j] = T(0);
            for (int64_t j = j_hi; j < d.W; ++j) src[i * d.W + j] = T(0);
          }
          const int64_t len = (ihi - ilo) * d.W, r0 = std::max<int64_t>(0, -shift);
          const int64_t r1 = std::max(r0, len - std::max<int64_t>(0, shift));
          for (int64_t r = r0; r < r1; ++r) dst[r + shift] += src[r];
          continue;
        }
        for (int64_t i = 0; i < d.Ho; ++i) {
          const int64_t hi = i * s + u - p;
          if (hi < 0 || hi >= d.H) continue;
          const T* src = row + i * d.Wo;
          T* dst = xc + hi * d.W;  // output column j adds into input column s j + v - p
          const int64_t shift = v - p;
          if (s == 1) {
            for (int64_t j = j_lo; j < j_hi; ++j) dst[j + shift] += src[j];
          } else {
            for (int64_t j = j_lo; j < j_hi; ++j) dst[j * s + shift] += src[j];
          }
        }
      }
}

/// Runs f(c0, c1) over the input channels: split over threads when `parallel` (the path where
/// images run one after another), else on the calling thread.
template <typename F>
void over_channels(const ConvDims& d, bool parallel, F&& f) {
  if (parallel) {
    parallel_for(d.Cin, d.kh * d.kw * d.HWo(), f);
  } else {
    f(int64_t{0}, d.Cin);
  }
}

/// True when images should be spread over threads as tasks (each running single-threaded
/// GEMMs); otherwise images run one after another and each GEMM uses every thread.
bool parallel_over_images(int64_t B) { return num_threads() > 1 && B >= num_threads(); }

/// Number of image groups of the weight gradient: each group's partial sum is computed by one
/// task and the partials are added in group order. Fixed by the batch size alone, so the result
/// does not depend on the thread count or the schedule.
int64_t weight_groups(int64_t B) { return std::min<int64_t>(B, 16); }

}  // namespace

// ---------------------------------------------------------------------------------------
// Forward

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  check_floating(x, "conv2d");
  check_floating(weight, "conv2d");
  check_same_dtype("conv2d", x, "input", weight, "weight");
  const ConvDims d = conv_dims("conv2d", x.shape(), weight.shape(), stride, padding);
  if (bias.defined()) {
    check_same_dtype("conv2d", x, "input", bias, "bias");
    TD_CHECK(bias.dim() == 1 && bias.size(0) == d.Cout, "conv2d",
             fmt::format("bias has shape {} but weight {} needs ({},)", shape_str(bias.shape()),
                         shape_str(weight.shape()), d.Cout));
  }
  check_blas_is_openmp();
  // 3x3, stride 1, padding 1 in float32: Winograd F(2x2, 3x3), 2.25x fewer flops (conv_winograd.h).
  if (winograd_conv_applies(x.shape(), weight.shape(), stride, padding, x.dtype()))
    return conv2d_winograd(x, weight, bias);
  const Tensor xc = x.contiguous();       // (B, Cin, H, W)
  const Tensor wc = weight.contiguous();  // (Cout, Cin, kh, kw) = (Cout, K) in memory
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty(d.out_shape(), x.dtype());  // (B, Cout, Ho, Wo)
  if (y.numel() == 0) return y;
  const int64_t K = d.K(), HWo = d.HWo();
  const bool tasks = parallel_over_images(d.B);
  // im2col buffers: one per thread (images as tasks) or one shared (images in sequence).
  const int64_t nbuf = d.direct() ? 0 : (tasks ? num_threads() : 1);
  Tensor cols_all = nbuf ? Tensor::empty({nbuf, K * HWo}, x.dtype()) : Tensor();
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.template data<T>();
    const T* pw = wc.template data<T>();
    const T* pb = bc.defined() ? bc.template data<T>() : nullptr;
    T* py = y.template data<T>();
    T* pcols = nbuf ? cols_all.template data<T>() : nullptr;
    // y_b (Cout, HWo) = bias + w (Cout, K) @ cols_b (K, HWo)
    auto image = [&](int64_t b, T* cols, bool parallel) {
      const T* xb = px + b * d.Cin * d.H * d.W;
      T* yb = py + b * d.Cout * HWo;
      if (pb)
        for (int64_t o = 0; o < d.Cout; ++o) std::fill(yb + o * HWo, yb + (o + 1) * HWo, pb[o]);
      if (!d.direct()) over_channels(d, parallel, [&](int64_t c0, int64_t c1) { im2col(xb, d, c0, c1, cols); });
      // 1x1, stride 1, no padding: x_b (Cin, HW) is already the column matrix.
      gemm<T>(false, false, d.Cout, HWo, K, T(1), pw, K, d.direct() ? xb : cols, HWo, pb ? T(1) : T(0), yb, HWo);
    };
    if (tasks) {
      // Images as tasks handed out one at a time; GEMMs run single-threaded.
      parallel_tasks(d.B, 2 * d.Cout * K * HWo,
                     [&](int64_t b, int t) { image(b, pcols ? pcols + t * K * HWo : nullptr, false); });
    } else {
      // Images one after another; im2col split over channels, GEMM threaded by OpenBLAS.
      for (int64_t b = 0; b < d.B; ++b) image(b, pcols, true);
    }
  });
  return y;
}

// ---------------------------------------------------------------------------------------
// Backward: all three gradients in one pass over the images.
//   dx_b = col2im(w^T (K, Cout) @ g_b (Cout, HWo))
//   dw (Cout, K) = sum_b g_b (Cout, HWo) @ cols_b^T (HWo, K)
//   db_o = sum_{b, i, j} g_{b,o,i,j}

namespace {
// conv2d_backward, with the op name used in error messages.
Conv2dGrads backward_impl(const char* op, const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                          const Shape& input_shape, const Shape& weight_shape, int64_t stride, int64_t padding,
                          bool need_input, bool need_weight, bool need_bias) {
  const ConvDims d = conv_dims(op, input_shape, weight_shape, stride, padding);
  check_grad_out(op, grad_out, d);
  if (need_input) {
    check_floating(weight, op);
    TD_CHECK(weight.shape() == weight_shape, op,
             fmt::format("weight has shape {}, expected {}", shape_str(weight.shape()), shape_str(weight_shape)));
    check_same_dtype(op, grad_out, "grad_out", weight, "weight");
  }
  if (need_weight) {
    check_floating(x, op);
    TD_CHECK(x.shape() == input_shape, op,
             fmt::format("input has shape {}, expected {}", shape_str(x.shape()), shape_str(input_shape)));
    check_same_dtype(op, grad_out, "grad_out", x, "input");
  }
  check_blas_is_openmp();
  if (need_input && winograd_backward_input_applies(input_shape, weight_shape, stride, padding, grad_out.dtype())) {
    // Wide layers: the input gradient by Winograd (conv_winograd.h), the rest by im2col below.
    Conv2dGrads rest;
    if (need_weight || need_bias)
      rest = backward_impl(op, grad_out, x, weight, input_shape, weight_shape, stride, padding, false, need_weight,
                           need_bias);
    rest.input = conv2d_winograd_backward_input(grad_out, weight, input_shape);
    return rest;
  }
  const DType dt = grad_out.dtype();
  const Tensor gc = grad_out.contiguous();                        // (B, Cout, Ho, Wo)
  const Tensor wc = need_input ? weight.contiguous() : Tensor();  // (Cout, K)
  const Tensor xc = need_weight ? x.contiguous() : Tensor();      // (B, Cin, H, W)
  Conv2dGrads out;
  if (need_input) out.input = Tensor::empty(input_shape, dt);  // (B, Cin, H, W); each image zeroed by its task
  if (need_weight) out.weight = Tensor::empty(weight_shape, dt);
  if (need_bias) out.bias = Tensor::empty({d.Cout}, dt);
  const int64_t K = d.K(), HWo = d.HWo(), HW = d.H * d.W, CK = d.Cout * K;
  if (gc.numel() == 0 || d.B == 0 || K == 0) {
    for (Tensor* t : {&out.input, &out.weight, &out.bias})
      if (t->defined()) t->fill_(0.0);
    return out;
  }
  const bool tasks = parallel_over_images(d.B);
  const int64_t groups = tasks ? weight_groups(d.B) : 1;
  const int64_t nbuf = d.direct() ? 0 : (tasks ? num_threads() : 1);
  // Scratch, allocated before any parallel region: im2col buffers, per-group partial sums.
  Tensor cols_all = nbuf ? Tensor::empty({nbuf, K * HWo}, dt) : Tensor();
  Tensor part_w = need_weight ? Tensor::empty({groups, CK}, dt) : Tensor();  // per group dw^T (K, Cout)
  std::vector<double> part_b(need_bias ? static_cast<size_t>(groups * d.Cout) : 0, 0.0);
  dispatch_floating(dt, op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.template data<T>();
    const T* pw = need_input ? wc.template data<T>() : nullptr;
    const T* px = need_weight ? xc.template data<T>() : nullptr;
    T* pdx = need_input ? out.input.template data<T>() : nullptr;
    T* pdw = need_weight ? part_w.template data<T>() : nullptr;
    T* pcols = nbuf ? cols_all.template data<T>() : nullptr;
    // Images [b0, b1) of group gi, with im2col buffer `cols` (parallel: split im2col/col2im
    // over channels, for the sequential path).
    auto group = [&](int64_t gi, int64_t b0, int64_t b1, T* cols, bool parallel) {
      T* acc = need_weight ? pdw + gi * CK : nullptr;
      for (int64_t b = b0; b < b1; ++b) {
        const T* gb = pg + b * d.Cout * HWo;
        if (need_input) {
          T* dxb = pdx + b * d.Cin * HW;
          if (d.direct()) {  // 1x1, stride 1, no padding: the product is dx_b itself
            gemm<T>(true, false, K, HWo, d.Cout, T(1), pw, K, gb, HWo, T(0), dxb, HWo);
          } else {
            gemm<T>(true, false, K, HWo, d.Cout, T(1), pw, K, gb, HWo, T(0), cols, HWo);
            std::fill(dxb, dxb + d.Cin * HW, T(0));
            over_channels(d, parallel, [&](int64_t c0, int64_t c1) { col2im(cols, d, c0, c1, dxb); });
          }
        }
        if (need_weight) {
          // acc holds dw^T (K, Cout) += cols_b (K, HWo) @ g_b^T (HWo, Cout): with the long K side
          // as the GEMM's rows OpenBLAS runs much closer to its peak than with Cout rows.
          const T* xb = px + b * d.Cin * HW;
          if (!d.direct()) over_channels(d, parallel, [&](int64_t c0, int64_t c1) { im2col(xb, d, c0, c1, cols); });
          gemm<T>(false, true, K, d.Cout, HWo, T(1), d.direct() ? xb : cols, HWo, gb, HWo, b == b0 ? T(0) : T(1), acc,
                  d.Cout);
        }
        if (need_bias) {
          double* pb = part_b.data() + gi * d.Cout;
          for (int64_t o = 0; o < d.Cout; ++o) {
            const T* go = gb + o * HWo;  // vectorised, fixed order (tensor/vec_math.h)
            pb[o] += lane_sum(HWo, [&](int64_t j) { return static_cast<double>(go[j]); });
          }
        }
      }
    };
    if (tasks) {
      parallel_tasks(groups, 4 * d.Cout * K * HWo * ((d.B + groups - 1) / groups), [&](int64_t gi, int t) {
        group(gi, gi * d.B / groups, (gi + 1) * d.B / groups, pcols ? pcols + t * K * HWo : nullptr, false);
      });
    } else {
      group(0, 0, d.B, pcols, true);
    }
    // Partials (each dw^T, (K, Cout)) added in group order (deterministic) and transposed into
    // dw (Cout, K), in parallel over dw's rows.
    if (need_weight) {
      T* dw = out.weight.template data<T>();
      parallel_for(d.Cout, groups * K, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
          for (int64_t k = 0; k < K; ++k) {
            T s = pdw[k * d.Cout + o];
            for (int64_t gi = 1; gi < groups; ++gi) s += pdw[gi * CK + k * d.Cout + o];
            dw[o * K + k] = s;
          }
      });
    }
    if (need_bias) {
      T* db = out.bias.template data<T>();
      for (int64_t o = 0; o < d.Cout; ++o) {
        double s = 0;
        for (int64_t gi = 0; gi < groups; ++gi) s += part_b[static_cast<size_t>(gi * d.Cout + o)];
        db[o] = static_cast<T>(s);
      }
    }
  });
  return out;
}
}  // namespace

Conv2dGrads conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Shape& input_shape,
                            const Shape& weight_shape, int64_t stride, int64_t padding, bool need_input,
                            bool need_weight, bool need_bias) {
  return backward_impl("conv2d_backward", grad_out, x, weight, input_shape, weight_shape, stride, padding, need_input,
                       need_weight, need_bias);
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape, int64_t stride,
                             int64_t padding) {
  check_floating(weight, "conv2d_backward_input");
  return backward_impl("conv2d_backward_input", grad_out, Tensor(), weight, input_shape, weight.shape(), stride,
                       padding, true, false, false)
      .input;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape, int64_t stride,
                              int64_t padding) {
  check_floating(x, "conv2d_backward_weight");
  return backward_impl("conv2d_backward_weight", grad_out, x, Tensor(), x.shape(), weight_shape, stride, padding, false,
                       true, false)
      .weight;
}

// ---------------------------------------------------------------------------------------
// Naive references: the defining sums, with double accumulators.

Tensor conv2d_naive(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  check_floating(x, "conv2d_naive");
  check_floating(weight, "conv2d_naive");
  check_same_dtype("conv2d_naive", x, "input", weight, "weight");
  const ConvDims d = conv_dims("conv2d_naive", x.shape(), weight.shape(), stride, padding);
  if (bias.defined())
    TD_CHECK(bias.dim() == 1 && bias.size(0) == d.Cout, "conv2d_naive",
             fmt::format("bias has shape {}, expected ({},)", shape_str(bias.shape()), d.Cout));
  const std::vector<double> xv = x.to_vector(), wv = weight.to_vector();
  const std::vector<double> bv = bias.defined() ? bias.to_vector() : std::vector<double>(d.Cout, 0.0);
  std::vector<double> y(static_cast<size_t>(shape_numel(d.out_shape())));
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t o = 0; o < d.Cout; ++o)
      for (int64_t i = 0; i < d.Ho; ++i)
        for (int64_t j = 0; j < d.Wo; ++j) {
          double acc = bv[o];
          for (int64_t c = 0; c < d.Cin; ++c)
            for (int64_t u = 0; u < d.kh; ++u)
              for (int64_t v = 0; v < d.kw; ++v) {
                const int64_t h = i * stride + u - padding, w = j * stride + v - padding;
                if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
                acc += wv[((o * d.Cin + c) * d.kh + u) * d.kw + v] * xv[((b * d.Cin + c) * d.H + h) * d.W + w];
              }
          y[((b * d.Cout + o) * d.Ho + i) * d.Wo + j] = acc;
        }
  return Tensor::from_vector(y, d.out_shape(), x.dtype());
}

Tensor conv2d_backward_input_naive(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                                   int64_t stride, int64_t padding) {
  const char* op = "conv2d_backward_input_naive";
  check_floating(weight, op);
  const ConvDims d = conv_dims(op, input_shape, weight.shape(), stride, padding);
  check_grad_out(op, grad_out, d);
  const std::vector<double> gv = grad_out.to_vector(), wv = weight.to_vector();
  std::vector<double> dx(static_cast<size_t>(shape_numel(input_shape)));
  // dx[b,c,h,w] = sum over (o, u, v) with h = s i + u - p, w = s j + v - p of g[b,o,i,j] w[o,c,u,v].
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t c = 0; c < d.Cin; ++c)
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t w = 0; w < d.W; ++w) {
          double acc = 0.0;
          for (int64_t o = 0; o < d.Cout; ++o)
            for (int64_t u = 0; u < d.kh; ++u)
              for (int64_t v = 0; v < d.kw; ++v) {
                const int64_t hi = h + padding - u, wi = w + padding - v;
                if (hi < 0 || wi < 0 || hi % stride != 0 || wi % stride != 0) continue;
                const int64_t i = hi / stride, j = wi / stride;
                if (i >= d.Ho || j >= d.Wo) continue;
                acc += gv[((b * d.Cout + o) * d.Ho + i) * d.Wo + j] * wv[((o * d.Cin + c) * d.kh + u) * d.kw + v];
              }
          dx[((b * d.Cin + c) * d.H + h) * d.W + w] = acc;
        }
  return Tensor::from_vector(dx, input_shape, weight.dtype());
}

Tensor conv2d_backward_weight_naive(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape, int64_t stride,
                                    int64_t padding) {
  const char* op = "conv2d_backward_weight_naive";
  check_floating(x, op);
  const ConvDims d = conv_dims(op, x.shape(), weight_shape, stride, padding);
  check_grad_out(op, grad_out, d);
  const std::vector<double> gv = grad_out.to_vector(), xv = x.to_vector();
  std::vector<double> dw(static_cast<size_t>(shape_numel(weight_shape)));
  // dw[o,c,u,v] = sum over (b, i, j) of g[b,o,i,j] x[b, c, s i + u - p, s j + v - p].
  for (int64_t o = 0; o < d.Cout; ++o)
    for (int64_t c = 0; c < d.Cin; ++c)
      for (int64_t u = 0; u < d.kh; ++u)
        for (int64_t v = 0; v < d.kw; ++v) {
          double acc = 0.0;
          for (int64_t b = 0; b < d.B; ++b)
            for (int64_t i = 0; i < d.Ho; ++i)
              for (int64_t j = 0; j < d.Wo; ++j) {
                const int64_t h = i * stride + u - padding, w = j * stride + v - padding;
                if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
                acc += gv[((b * d.Cout + o) * d.Ho + i) * d.Wo + j] * xv[((b * d.Cin + c) * d.H + h) * d.W + w];
              }
          dw[((o * d.Cin + c) * d.kh + u) * d.kw + v] = acc;
        }
  return Tensor::from_vector(dw, weight_shape, x.dtype());
}

// ---------------------------------------------------------------------------------------
// Nearest upsampling

Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  check_floating(x, "upsample_nearest2d");
  TD_CHECK(x.dim() == 4, "upsample_nearest2d",
           fmt::format("expected input of shape (B, C, H, W), got {}", shape_str(x.shape())));
  TD_CHECK(scale >= 1, "upsample_nearest2d", fmt::format("scale must be >= 1, got {}", scale));
  const Tensor xc = x.contiguous();  // (B, C, H, W)
  const int64_t BC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), Ho = H * scale, Wo = W * scale;
  Tensor y = Tensor::empty({x.size(0), x.size(1), Ho, Wo}, x.dtype());  // (B, C, sH, sW)
  dispatch_floating(x.dtype(), "upsample_nearest2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.template data<T>();
    T* py = y.template data<T>();
    // One task per input row (bc, i): it writes output row (bc, s i) element by element and
    // copies it to the s - 1 rows below.
    parallel_for(BC * H, scale * Wo, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* src = px + r * W;
        T* dst = py + r * scale * Wo;  // input row r = (bc, i) -> output rows (bc, s i + a)
        if (scale == 2) {
          for (int64_t j = 0; j < W; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
        } else {
          for (int64_t j = 0; j < W; ++j)
            for (int64_t a = 0; a < scale; ++a) dst[j * scale + a] = src[j];
        }
        for (int64_t a = 1; a < scale; ++a) std::memcpy(dst + a * Wo, dst, static_cast<size_t>(Wo) * sizeof(T));
      }
    });
  });
  return y;
}

Tensor upsample_nearest2d_backward(const Tensor& grad_out, int64_t scale) {
  const char* op = "upsample_nearest2d_backward";
  check_floating(grad_out, op);
  TD_CHECK(grad_out.dim() == 4, op,
           fmt::format("expected grad_out of shape (B, C, sH, sW), got {}", shape_str(grad_out.shape())));
  TD_CHECK(scale >= 1, op, fmt::format("scale must be >= 1, got {}", scale));
  TD_CHECK(grad_out.size(2) % scale == 0 && grad_out.size(3) % scale == 0, op,
           fmt::format("grad_out {} has spatial extents that are not multiples of scale {}",
                       shape_str(grad_out.shape()), scale));
  const Tensor gc = grad_out.contiguous();  // (B, C, sH, sW)
  const int64_t BC = grad_out.size(0) * grad_out.size(1), Ho = grad_out.size(2), Wo = grad_out.size(3);
  const int64_t H = Ho / scale, W = Wo / scale;
  Tensor dx = Tensor::empty({grad_out.size(0), grad_out.size(1), H, W}, grad_out.dtype());  // (B, C, H, W)
  dispatch_floating(grad_out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gc.template data<T>();
    T* pdx = dx.template data<T>();
    // One task per input row (bc, i): the sum over its s x s blocks, in a fixed order.
    parallel_for(BC * H, scale * Wo, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* block = pg + (r / H) * Ho * Wo + (r % H) * scale * Wo;  // first of the s grad rows
        T* dst = pdx + r * W;
        // dst[j] = sum over a, then bcol, of block[a Wo + j s + bcol] (the same order for every j)
        std::fill(dst, dst + W, T(0));
        for (int64_t a = 0; a < scale; ++a) {
          const T* g = block + a * Wo;
          if (scale == 2) {
            for (int64_t j = 0; j < W; ++j) dst[j] = (dst[j] + g[2 * j]) + g[2 * j + 1];
          } else {
            for (int64_t j = 0; j < W; ++j)
              for (int64_t bcol = 0; bcol < scale; ++bcol) dst[j] += g[j * scale + bcol];
          }
        }
      }
    });
  });
  return dx;
}

}  // namespace tinydiff
