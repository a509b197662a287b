/// \file
/// \brief `Linear`, the fully connected layer \f$y = x W^\top + b\f$ (PyTorch's `nn.Linear`).
///
/// Parameters (PyTorch names and shapes): `weight` (out_features, in_features) and, unless
/// `bias = false`, `bias` (out_features). Initialisation is PyTorch's default: `weight` by
/// `kaiming_uniform_(a = sqrt(5))`, which is \f$\mathcal{U}(-1/\sqrt{\mathrm{in}}, 1/\sqrt{\mathrm{in}})\f$,
/// and `bias` also \f$\mathcal{U}(-1/\sqrt{\mathrm{in}}, 1/\sqrt{\mathrm{in}})\f$ (see init.h), drawn
/// from the Generator given to the constructor.
///
/// Usage:
/// \code
///   Generator gen(0);
///   Linear fc({.in_features = 128, .out_features = 512}, gen);
///   Variable y = fc.forward(x);     // x: (B, L, 128) -> (B, L, 512)
/// \endcode
#pragma once

#include <cstdint>

#include "nn/module.h"
#include "tensor/random.h"

namespace tinydiff {

/// Options of Linear (PyTorch's constructor arguments).
struct LinearOptions {
  int64_t in_features = 0;   ///< size of the input's last axis
  int64_t out_features = 0;  ///< size of the output's last axis
  bool bias = true;          ///< whether to learn an additive bias
};

/// \f$y = x W^\top + b\f$ over the last axis of x.
class Linear : public Module {
 public:
  /// Makes the layer with PyTorch's default initialisation, drawn from `gen`.
  Linear(const LinearOptions& options, Generator& gen);

  /// x: (..., in_features) -> (..., out_features).
  Variable forward(const Variable& x) const;

  /// The options given at construction.
  const LinearOptions& options() const { return options_; }

  Variable weight;  ///< (out_features, in_features)
  Variable bias;    ///< (out_features); undefined when options.bias is false

 private:
  LinearOptions options_;
};

}  // namespace tinydiff
