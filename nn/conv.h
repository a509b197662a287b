/// \file
/// \brief `Conv2d`, the 2-d convolution layer (PyTorch's `nn.Conv2d` with groups = 1, dilation = 1).
///
/// \f[ y_{b,o,i,j} = \mathrm{bias}_o + \sum_{c,u,v} \mathrm{weight}_{o,c,u,v}\; x_{b,c,\,si+u-p,\,sj+v-p}, \f]
/// zero padding p on every side, stride s, output size \f$\lfloor (H + 2p - k)/s \rfloor + 1\f$
/// (see autograd/ops_conv.h). Square kernels, one stride and one padding for both axes.
///
/// Parameters (PyTorch names and shapes): `weight` (out_channels, in_channels, k, k) and,
/// unless `bias = false`, `bias` (out_channels). Initialisation is PyTorch's default:
/// `weight` by `kaiming_uniform_(a = sqrt(5))`, i.e. \f$\mathcal{U}(-1/\sqrt{\mathrm{fan_{in}}},
/// 1/\sqrt{\mathrm{fan_{in}}})\f$ with \f$\mathrm{fan_{in}} = \mathrm{in\_channels}\,k^2\f$, and `bias` uniform with
/// the same bound.
///
/// Usage:
/// \code
///   Generator gen(0);
///   Conv2d down({.in_channels = 64, .out_channels = 64, .kernel_size = 3, .stride = 2, .padding = 1}, gen);
///   Variable y = down.forward(x);   // x: (B, 64, 32, 32) -> (B, 64, 16, 16)
/// \endcode
#pragma once

#include <cstdint>

#include "nn/module.h"
#include "tensor/random.h"

namespace tinydiff {

/// Options of Conv2d (PyTorch's constructor arguments, square kernels).
struct Conv2dOptions {
  int64_t in_channels = 0;   ///< channels of the input (axis 1)
  int64_t out_channels = 0;  ///< channels of the output
  int64_t kernel_size = 3;   ///< k: the kernel is k x k
  int64_t stride = 1;        ///< step between output positions, both axes
  int64_t padding = 0;       ///< zero padding on every side
  bool bias = true;          ///< whether to learn an additive bias per output channel
};

/// 2-d convolution over (B, C, H, W) inputs.
class Conv2d : public Module {
 public:
  /// Makes the layer with PyTorch's default initialisation, drawn from `gen`.
  Conv2d(const Conv2dOptions& options, Generator& gen);

  /// x: (B, in_channels, H, W) -> (B, out_channels, Hout, Wout).
  Variable forward(const Variable& x) const;

  /// The options given at construction.
  const Conv2dOptions& options() const { return options_; }

  Variable weight;  ///< (out_channels, in_channels, k, k)
  Variable bias;    ///< (out_channels); undefined when options.bias is false

 private:
  Conv2dOptions options_;
};

}  // namespace tinydiff
