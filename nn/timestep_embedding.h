/// \file
/// \brief The sinusoidal timestep embedding of diffusion models (Ho et al. 2020, "Denoising
/// Diffusion Probabilistic Models", after the positional encoding of Vaswani et al. 2017).
///
/// For a timestep t and an even width dim = 2h, with frequencies
/// \f$\omega_i = \exp(-\ln(P)\, i / h)\f$, \f$i = 0, \dots, h-1\f$ (P = max_period = 10000):
/// \f[ \mathrm{emb}(t) = \left[\sin(t\omega_0), \dots, \sin(t\omega_{h-1}),\;
///                            \cos(t\omega_0), \dots, \cos(t\omega_{h-1})\right]. \f]
/// This is exactly the PyTorch code
///
///     half = dim // 2
///     freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
///     a = t[:, None].float() * freqs[None]
///     emb = torch.cat([torch.sin(a), torch.cos(a)], dim=1)
///
/// computed in the same order and dtype (so float32 results agree with PyTorch to rounding of
/// sin and cos). An odd `dim` is rejected (that code would return dim - 1 columns).
///
/// Usage:
/// \code
///   Tensor t = Tensor::from_indices({0, 250, 999}, {3});
///   Tensor emb = timestep_embedding(t, 128);         // (3, 128) float32
///   Variable h = time_mlp.forward(Variable(emb));    // constant input to a learned MLP
/// \endcode
#pragma once

#include <cstdint>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Sinusoidal embedding of timesteps. t: (B) int64 or float (fractional times allowed);
/// dim: even and positive; returns (B, dim) of `dtype`, sines first, then cosines.
Tensor timestep_embedding(const Tensor& t, int64_t dim, DType dtype = DType::F32, double max_period = 10000.0);

}  // namespace tinydiff
