/// \file
/// \brief 2-d convolution (im2col + GEMM) with its input/weight gradient kernels, and nearest upsampling.
///
/// For input \f$x \in \mathbb{R}^{B \times C_{in} \times H \times W}\f$, weight
/// \f$w \in \mathbb{R}^{C_{out} \times C_{in} \times k_h \times k_w}\f$, stride s and zero padding p:
/// \f[ y_{b,o,i,j} = \mathrm{bias}_o + \sum_{c,u,v} w_{o,c,u,v}\; x_{b,c,\,si+u-p,\,sj+v-p}, \f]
/// with output size \f$H_{out} = \lfloor (H + 2p - k_h)/s \rfloor + 1\f$ (likewise W).
/// This is PyTorch's `nn.Conv2d` (a cross-correlation), groups = 1, dilation = 1.
///
/// The fast kernel unfolds the receptive fields into a matrix (im2col, shape
/// \f$(C_{in} k_h k_w) \times (H_{out} W_{out})\f$) and multiplies it by the weight viewed as
/// \f$C_{out} \times (C_{in} k_h k_w)\f$. The two backward kernels are the same GEMMs transposed:
/// \f$\partial L/\partial w = g\,\mathrm{cols}^\top\f$ and \f$\partial L/\partial x = \mathrm{col2im}(w^\top g)\f$.
/// Each has a naive loop beside it (the `_naive` functions), the test oracle.
///
/// Usage:
/// \code
///   Tensor y = conv2d(x, w, b, 1, 1);   // x: (B, 32, 16, 16), w: (64, 32, 3, 3) -> (B, 64, 16, 16)
/// \endcode
#pragma once

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Output extent of a convolution along one axis: floor((in + 2 padding - kernel) / stride) + 1.
int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding);

/// y: (B, Cout, Hout, Wout). x: (B, Cin, H, W); weight: (Cout, Cin, kh, kw); bias: (Cout) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = 0);
/// Gradient w.r.t. the input: returns (B, Cin, H, W) given grad_out (B, Cout, Hout, Wout).
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape, int64_t stride,
                             int64_t padding);
/// Gradient w.r.t. the weight: returns (Cout, Cin, kh, kw).
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape, int64_t stride,
                              int64_t padding);

/// The gradients of conv2d w.r.t. its input, weight and bias (undefined when not asked for).
struct Conv2dGrads {
  Tensor input;   ///< (B, Cin, H, W)
  Tensor weight;  ///< (Cout, Cin, kh, kw)
  Tensor bias;    ///< (Cout)
};

/// Every gradient asked for in one pass over the images (one parallel region: images, or fixed
/// groups of images for the weight and bias sums, as tasks with single-threaded GEMMs; the
/// group partials are added in group order, so results do not depend on the thread count).
/// `x` is read only when need_weight, `weight` only when need_input (either may otherwise be
/// undefined). grad_out: (B, Cout, Hout, Wout); db_o = sum over b, i, j of grad_out.
Conv2dGrads conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Shape& input_shape,
                            const Shape& weight_shape, int64_t stride, int64_t padding, bool need_input,
                            bool need_weight, bool need_bias);

/// Direct nested loops; same contract as conv2d.
Tensor conv2d_naive(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = 0);
/// Direct loops; same contract as conv2d_backward_input.
Tensor conv2d_backward_input_naive(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                                   int64_t stride, int64_t padding);
/// Direct loops; same contract as conv2d_backward_weight.
Tensor conv2d_backward_weight_naive(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape, int64_t stride,
                                    int64_t padding);

/// Nearest-neighbour upsampling by an integer factor: y[b,c,i,j] = x[b,c,i/s,j/s]. x: (B, C, H, W) -> (B, C, sH, sW).
Tensor upsample_nearest2d(const Tensor& x, int64_t scale);
/// Its backward: each input pixel receives the sum of its s x s block of grad_out.
Tensor upsample_nearest2d_backward(const Tensor& grad_out, int64_t scale);

}  // namespace tinydiff
