/// \file
/// \brief 3x3 convolutions (stride 1, padding 1) by Winograd's minimal filtering F(2x2, 3x3), forward and backward.
///
/// Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks". Each 2x2 block of
/// outputs of one (output channel, input channel) pair is
/// \f[ Y = A^\top \left[ (G\,w\,G^\top) \odot (B^\top d\, B) \right] A \f]
/// with d the 4x4 input tile around it (zero outside the image) and
/// \f[ B^\top = \begin{pmatrix} 1&0&-1&0\\ 0&1&1&0\\ 0&-1&1&0\\ 0&1&0&-1 \end{pmatrix},\quad
///     G = \begin{pmatrix} 1&0&0\\ \tfrac12&\tfrac12&\tfrac12\\ \tfrac12&-\tfrac12&\tfrac12\\ 0&0&1 \end{pmatrix},\quad
///     A^\top = \begin{pmatrix} 1&1&1&0\\ 0&1&-1&-1 \end{pmatrix}. \f]
/// Summing over input channels turns the elementwise products into 16 GEMMs, one per position
/// \f$\xi\f$ of the 4x4 transformed tile: \f$M_\xi = U_\xi V_\xi\f$ with \f$U_\xi\f$ (Cout x Cin) the
/// transformed weights and \f$V_\xi\f$ (Cin x tiles) the transformed input. That is 16 multiplies per
/// 2x2 outputs instead of 36: 2.25x fewer flops than im2col + GEMM, and the transformed input
/// is 4x the input instead of im2col's 9x.
///
/// The input gradient is the adjoint of the same linear maps (the exact gradient of this forward):
/// with \f$\bar M = A \bar Y A^\top\f$ per tile, \f$\bar V_\xi = U_\xi^\top \bar M_\xi\f$, then
/// \f$\bar d = B \bar V B^\top\f$ added over the overlapping tiles. It pays off only for wide layers
/// (at least 128 channels in and out; measured on the "tiny" and "small" shapes): below that, and
/// for the weight gradient always, conv2d_backward keeps im2col + GEMM, whose GEMMs are larger.
/// (Both compute the gradient of the same convolution; they differ only in rounding.)
///
/// Images are processed in chunks of a fixed size (set by the batch and the image size, not the
/// thread count) as tasks with single-threaded GEMMs; every output is written by one task, so
/// results do not depend on the thread count. Float32 only
/// (float64 keeps the exact im2col path, for gradient checks). The transforms' constants are
/// 0, ±1 and ±1/2, so the rounding error stays within a few float32 ulps of the inputs' scale.
/// conv2d and conv2d_backward (conv.h) use this path when `winograd_conv_applies` (forward) and
/// `winograd_backward_input_applies`; the tests compare it with conv2d_naive and the naive
/// gradient kernel.
///
/// Usage (through conv2d):
/// \code
///   Tensor y = conv2d(x, w, b, 1, 1);   // x: (64, 32, 32, 32), w: (64, 32, 3, 3): Winograd
/// \endcode
#pragma once

#include "tensor/conv.h"

namespace tinydiff {

/// True when the Winograd path is used: it is enabled (see set_winograd_enabled), float32, 3x3
/// kernel, stride 1, padding 1, and at least 8 input and 8 output channels (below that the GEMMs
/// are too thin to pay for the transforms).
bool winograd_conv_applies(const Shape& x_shape, const Shape& w_shape, int64_t stride, int64_t padding, DType dtype);

/// Turns the Winograd path on (the default) or off (conv2d then always uses im2col + GEMM), for
/// benchmarks and tests that compare the two. Not thread-safe: set it before running kernels.
void set_winograd_enabled(bool on);
/// Whether the Winograd path is enabled.
bool winograd_enabled();

/// conv2d(x, w, bias, 1, 1) by F(2x2, 3x3). x: (B, Cin, H, W); w: (Cout, Cin, 3, 3); bias: (Cout) or
/// undefined -> (B, Cout, H, W). Arguments must already be checked (conv2d does).
Tensor conv2d_winograd(const Tensor& x, const Tensor& w, const Tensor& bias);

/// True when conv2d_backward computes the input gradient by Winograd: winograd_conv_applies and
/// at least 128 input and 128 output channels.
bool winograd_backward_input_applies(const Shape& x_shape, const Shape& w_shape, int64_t stride, int64_t padding,
                                     DType dtype);

/// The input gradient of conv2d(x, w, ., 1, 1) by F(2x2, 3x3): grad_out (B, Cout, H, W),
/// w (Cout, Cin, 3, 3) -> (B, Cin, H, W) of shape x_shape.
Tensor conv2d_winograd_backward_input(const Tensor& grad_out, const Tensor& w, const Shape& x_shape);

}  // namespace tinydiff
