/// \file
/// \brief `TransformerEncoder`, a stack of TransformerEncoderLayers applied in order (PyTorch's
/// `nn.TransformerEncoder(encoder_layer, num_layers)`, without its optional final norm).
///
/// \f[ h^{(0)} = x, \qquad h^{(\ell+1)} = \mathrm{Layer}_\ell\bigl(h^{(\ell)}\bigr), \qquad y = h^{(N)}, \f]
/// every layer a TransformerEncoderLayer (transformer.h) built from the same options, with its own
/// parameters (drawn from the generator layer after layer), and every layer given the same key padding
/// mask. The layers are named `layers.0`, `layers.1`, ... as in PyTorch, so a state dict reads
/// `layers.0.self_attn.in_proj_weight`, `layers.1.linear2.bias`, ...; N layers have N times the
/// parameters of one (2 x 198,272 = 396,544 for d = 128, ff = 512). A final LayerNorm, when wanted, is
/// the caller's (the text encoder of diffusion/models/text_encoder.h applies its own).
///
/// Usage:
/// \code
///   Generator gen(0);
///   TransformerEncoder enc({.d_model = 128, .nhead = 4, .dim_feedforward = 512}, 2, gen);
///   Variable y = enc.forward(x, pad);    // x: (B, L, 128); pad: (B, L), 1 = keep (or omitted) -> (B, L, 128)
/// \endcode
#pragma once

#include <cstdint>

#include "nn/module.h"
#include "nn/transformer.h"
#include "tensor/random.h"

namespace tinydiff {

/// Transformer encoder layers applied one after another.
class TransformerEncoder : public Module {
 public:
  /// `count` layers (0 or more) of the same options, each initialised from `gen` in turn.
  TransformerEncoder(const TransformerEncoderLayerOptions& options, int64_t count, Generator& gen);
  /// x: (B, L, d_model); key_padding_mask: (B, L) with 1 = keep, 0 = ignore, or an undefined Tensor.
  /// Returns (B, L, d_model); with no layers, x itself.
  Variable forward(const Variable& x, const Tensor& key_padding_mask = Tensor()) const;

  ModuleList<TransformerEncoderLayer> layers;  ///< the layers, applied in order
};

}  // namespace tinydiff
