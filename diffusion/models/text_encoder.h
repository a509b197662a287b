/// \file
/// \brief The transformer text encoder: token ids to one vector per token.
///
/// \f[ h^{(0)} = E_{\text{tok}}[\text{ids}] + P, \qquad h^{(\ell+1)} = \text{Layer}_\ell(h^{(\ell)}), \qquad
///     \text{out} = \text{LayerNorm}(h^{(N)}) \f]
/// with learned position embeddings \f$P \in \mathbb{R}^{L \times d}\f$ (initialised to zero,
/// as in the PyTorch peer) and N pre-LayerNorm transformer layers (Vaswani et al. 2017;
/// pre-norm as in Xiong et al. 2020): multi-head self-attention and a GELU MLP, each inside a
/// residual connection. Padding tokens are masked out of every attention (keys only; their
/// own output vectors are computed but ignored downstream by the cross-attention mask).
///
/// The layers are an nn TransformerEncoder (nn/transformer_encoder.h). Parameter names follow the
/// PyTorch peer: `tok.weight`, `pos`, `enc.layers.0.self_attn.in_proj_weight`, ..., `ln.weight`.
///
/// Usage:
/// \code
///   TextEncoder te(cfg, gen);
///   Variable ctx = te.forward(batch.ids, batch.mask);   // ids: (B, L) -> ctx: (B, L, d)
/// \endcode
#pragma once

#include "autograd/autograd.h"
#include "diffusion/models/model_config.h"
#include "nn/nn.h"

namespace tinydiff {

/// Token embeddings + positions -> transformer layers -> LayerNorm.
class TextEncoder : public Module {
 public:
  /// Builds the encoder for `config`, initialising parameters from `gen`.
  TextEncoder(const ModelConfig& config, Generator& gen);
  /// ids: (B, L) int64; mask: (B, L) float 1 = token (or undefined) -> (B, L, d).
  Variable forward(const Tensor& ids, const Tensor& mask = Tensor()) const;

  Embedding tok;           ///< (vocab, d) token embeddings
  Variable pos;            ///< (1, L, d) position embeddings
  TransformerEncoder enc;  ///< the transformer layers
  LayerNorm ln;            ///< final LayerNorm
};

}  // namespace tinydiff
