/// \file
/// \brief `TransformerEncoderLayer`, PyTorch's `nn.TransformerEncoderLayer(d_model, nhead,
/// dim_feedforward, dropout=0, activation="gelu", batch_first=True, norm_first=True)`.
///
/// Vaswani et al. 2017, "Attention Is All You Need"; the pre-norm arrangement
/// (`norm_first`, Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture"):
/// \f[ x \leftarrow x + \mathrm{SelfAttn}(\mathrm{LN}_1(x)), \qquad
///     x \leftarrow x + W_2\, \mathrm{act}(W_1\, \mathrm{LN}_2(x) + b_1) + b_2. \f]
/// With `norm_first = false` it is the original post-norm layer:
/// \f$x \leftarrow \mathrm{LN}_1(x + \mathrm{SelfAttn}(x))\f$, \f$x \leftarrow \mathrm{LN}_2(x + \mathrm{FF}(x))\f$.
///
/// Children and parameters, with PyTorch's names (listed in this order):
/// `self_attn.in_proj_weight` (3d, d), `self_attn.in_proj_bias` (3d), `self_attn.out_proj.weight`
/// (d, d), `self_attn.out_proj.bias` (d), `linear1.weight` (ff, d), `linear1.bias` (ff),
/// `linear2.weight` (d, ff), `linear2.bias` (d), `norm1.weight`, `norm1.bias`, `norm2.weight`,
/// `norm2.bias` (d each): \f$4d^2 + 4d + 2 d\,\mathrm{ff} + \mathrm{ff} + d + 4d\f$ parameters
/// (198,272 for d = 128, ff = 512, as PyTorch counts). Each child is initialised as its own
/// class documents (PyTorch does the same).
///
/// Differences from PyTorch's constructor: dropout is not supported (always 0); `activation`
/// defaults to GELU (PyTorch's default is ReLU) and `norm_first` to true; batch first always.
///
/// Usage:
/// \code
///   Generator gen(0);
///   TransformerEncoderLayer block({.d_model = 128, .nhead = 4, .dim_feedforward = 512}, gen);
///   Variable y = block.forward(x, pad);    // x: (B, L, 128); pad: (B, L), 1 = keep (or omitted)
/// \endcode
#pragma once

#include <cstdint>

#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "tensor/random.h"

namespace tinydiff {

/// The feed-forward nonlinearity of a TransformerEncoderLayer.
enum class TransformerActivation {
  Gelu,  ///< exact GELU (erf), PyTorch's activation="gelu"
  Relu,  ///< ReLU, PyTorch's default activation="relu"
};

/// Options of TransformerEncoderLayer (PyTorch's constructor arguments).
struct TransformerEncoderLayerOptions {
  int64_t d_model = 0;                                             ///< d, the token feature size
  int64_t nhead = 1;                                               ///< attention heads; must divide d_model
  int64_t dim_feedforward = 2048;                                  ///< ff, the hidden size of the MLP
  double layer_norm_eps = 1e-5;                                    ///< \f$\epsilon\f$ of norm1 and norm2
  TransformerActivation activation = TransformerActivation::Gelu;  ///< MLP nonlinearity
  bool norm_first = true;                                          ///< pre-norm (true) or post-norm (false)
};

/// One transformer encoder block: self-attention and an MLP, each with a residual connection.
class TransformerEncoderLayer : public Module {
 public:
  /// Makes the block; parameters drawn from `gen` (see the children's initialisation).
  TransformerEncoderLayer(const TransformerEncoderLayerOptions& options, Generator& gen);

  /// x: (B, L, d_model); key_padding_mask: (B, L) with 1 = keep, 0 = ignore (see attention.h),
  /// or an undefined Tensor. Returns (B, L, d_model).
  Variable forward(const Variable& x, const Tensor& key_padding_mask = Tensor()) const;

  /// The options given at construction.
  const TransformerEncoderLayerOptions& options() const { return options_; }

  MultiHeadAttention self_attn;  ///< self-attention, embed_dim = d_model, nhead heads
  Linear linear1;                ///< d_model -> dim_feedforward
  Linear linear2;                ///< dim_feedforward -> d_model
  LayerNorm norm1;               ///< before (norm_first) or after the attention residual
  LayerNorm norm2;               ///< before (norm_first) or after the MLP residual

 private:
  /// The MLP: linear2(act(linear1(x))). x: (B, L, d) -> (B, L, d).
  Variable feed_forward(const Variable& x) const;

  TransformerEncoderLayerOptions options_;
};

}  // namespace tinydiff
