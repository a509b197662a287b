/// \file
/// \brief Differentiable 2-d convolution and nearest-neighbour upsampling.
///
/// `conv2d` is PyTorch's `nn.functional.conv2d` (a cross-correlation, groups = 1, dilation = 1):
/// \f[ y_{b,o,i,j} = \beta_o + \sum_{c,u,v} w_{o,c,u,v}\, x_{b,c,\,si+u-p,\,sj+v-p}. \f]
/// Its gradients are the tensor library's transposed GEMM kernels (tensor/conv.h):
/// \f[ \bar x = \mathrm{col2im}(w^\top \bar y), \qquad \bar w = \bar y\, \mathrm{cols}(x)^\top, \qquad
///     \bar\beta_o = \textstyle\sum_{b,i,j} \bar y_{b,o,i,j}. \f]
///
/// `upsample_nearest2d` repeats each pixel in an s x s block,
/// \f$y_{b,c,i,j} = x_{b,c,\lfloor i/s \rfloor,\lfloor j/s \rfloor}\f$, so each input pixel's
/// gradient is the sum of its block of \f$\bar y\f$.
///
/// Usage:
/// \code
///   Variable h = conv2d(x, w, b, 1, 1);      // x: (B, 32, 16, 16), w: (64, 32, 3, 3), b: (64) -> (B, 64, 16, 16)
///   Variable d = conv2d(h, w2, b2, 2, 1);    // stride 2 halves the resolution: (B, 64, 8, 8)
///   Variable u = upsample_nearest2d(d, 2);   // (B, 64, 16, 16)
/// \endcode
#pragma once

#include <cstdint>

#include "autograd/variable.h"

namespace tinydiff {

/// 2-d convolution. x: (B, Cin, H, W); weight: (Cout, Cin, kh, kw); bias: (Cout) or an undefined
/// Variable. Returns (B, Cout, Hout, Wout), \f$H_{out} = \lfloor (H + 2p - k_h)/s \rfloor + 1\f$.
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride = 1,
                int64_t padding = 0);

/// Nearest-neighbour upsampling by an integer factor. x: (B, C, H, W) -> (B, C, sH, sW).
Variable upsample_nearest2d(const Variable& x, int64_t scale);

}  // namespace tinydiff
