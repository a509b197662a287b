/// \file
/// \brief `MultiHeadAttention`, exactly PyTorch's `nn.MultiheadAttention(embed_dim, num_heads,
/// kdim=, vdim=, batch_first=True)`: same parameters, names, shapes, initialisation and maths.
///
/// Vaswani et al. 2017, "Attention Is All You Need". With E = embed_dim, H = num_heads and
/// D = E / H, for query (B, Lq, E), key (B, Lk, kdim) and value (B, Lk, vdim):
/// \f[ Q = q W_q^\top + b_q,\quad K = k W_k^\top + b_k,\quad V = v W_v^\top + b_v, \f]
/// each split into H heads of D features, then per head
/// \f[ O_h = \mathrm{softmax}\!\left(\frac{Q_h K_h^\top}{\sqrt D} + M\right) V_h, \qquad
///     y = \mathrm{concat}_h(O_h)\, W_o^\top + b_o, \f]
/// where M is \f$-\infty\f$ at padded keys (see autograd/ops_attention.h).
///
/// Parameters, as PyTorch names them (listed in this order by named_parameters()):
/// - when kdim == vdim == embed_dim: `in_proj_weight` (3E, E), the rows \f$[W_q; W_k; W_v]\f$;
/// - otherwise: `q_proj_weight` (E, E), `k_proj_weight` (E, kdim), `v_proj_weight` (E, vdim);
/// - `in_proj_bias` (3E) \f$= [b_q; b_k; b_v]\f$ and `out_proj.weight` (E, E), `out_proj.bias` (E)
///   (both biases absent when `bias = false`).
///
/// Initialisation as PyTorch's `_reset_parameters`: the input projection weights
/// `xavier_uniform_` (the packed (3E, E) matrix as one tensor), `in_proj_bias` and
/// `out_proj.bias` zero, `out_proj.weight` Linear's default (`kaiming_uniform_(a = sqrt(5))`).
///
/// **Key padding mask.** `key_padding_mask` is (B, Lk) with **1 = keep, 0 = ignore** (float or
/// int64). PyTorch's `key_padding_mask` uses the opposite convention (True = ignore): pass
/// `~mask` there, or `1 - mask` here. A query whose keys are *all* masked gets a zero attention
/// output here (then `out_proj` gives its bias), where PyTorch gives NaN.
///
/// **Reading the attention weights.** forward() does not return the probabilities (the fused
/// kernel keeps them internally). To look at them — for figures, or to see which word of a prompt
/// a pixel attends to — point the layer's `recorder` at an AttentionRecorder: every forward then
/// appends \f$P = \mathrm{softmax}(Q_h K_h^\top/\sqrt D + M)\f$, shaped (B, H, Lq, Lk), rows summing
/// to 1 (0 for a query whose keys are all masked). It is computed again, outside the graph, only
/// while `recorder` is set; the output of forward() is the same either way. The default (null)
/// records nothing and costs one pointer test per call.
///
/// Not supported: dropout on the attention weights (PyTorch's `dropout`; here always 0),
/// `add_bias_kv`, `add_zero_attn`, an additive `attn_mask`, returning the attention weights
/// (see `recorder` instead), and sequence-first layouts (this is `batch_first=True`).
///
/// Usage:
/// \code
///   Generator gen(0);
///   MultiHeadAttention self_attn({.embed_dim = 128, .num_heads = 4}, gen);
///   Variable y = self_attn.forward(x, pad);                 // x: (B, L, 128), pad: (B, L) 1 = keep
///   MultiHeadAttention cross({.embed_dim = 128, .num_heads = 4, .kdim = 64, .vdim = 64}, gen);
///   Variable z = cross.forward(x, ctx, ctx, ctx_pad);        // ctx: (B, Lk, 64) -> z: (B, L, 128)
///
///   AttentionRecorder rec;
///   cross.recorder = &rec;                                   // record while set
///   cross.forward(x, ctx, ctx, ctx_pad);
///   cross.recorder = nullptr;
///   Tensor p = rec.weights[0];                               // (B, 4, L, Lk), rows sum to 1
/// \endcode
#pragma once

#include <cstdint>
#include <vector>

#include "nn/linear.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace tinydiff {

/// Options of MultiHeadAttention (PyTorch's constructor arguments).
struct MultiHeadAttentionOptions {
  int64_t embed_dim = 0;  ///< E, the query and output feature size
  int64_t num_heads = 1;  ///< H; must divide embed_dim
  int64_t kdim = 0;       ///< key feature size; 0 means embed_dim (PyTorch's None)
  int64_t vdim = 0;       ///< value feature size; 0 means embed_dim (PyTorch's None)
  bool bias = true;       ///< learn in_proj_bias and out_proj.bias
};

/// Collects the attention probabilities of the MultiHeadAttention layers whose `recorder` points at it.
struct AttentionRecorder {
  /// One (B, H, Lq, Lk) tensor per forward call, in call order: \f$\mathrm{softmax}(Q_h K_h^\top/\sqrt D + M)\f$.
  std::vector<Tensor> weights;
};

/// Multi-head scaled dot-product attention with learned projections, batch first.
class MultiHeadAttention : public Module {
 public:
  /// Makes the layer with PyTorch's initialisation, drawn from `gen`.
  MultiHeadAttention(const MultiHeadAttentionOptions& options, Generator& gen);

  /// Attention of `query` over `key`/`value`.
  /// query: (B, Lq, E); key: (B, Lk, kdim); value: (B, Lk, vdim); key_padding_mask: (B, Lk),
  /// 1 = keep, 0 = ignore, or an undefined Tensor. Returns (B, Lq, E).
  Variable forward(const Variable& query, const Variable& key, const Variable& value,
                   const Tensor& key_padding_mask = Tensor()) const;
  /// Self-attention, forward(x, x, x, key_padding_mask); with packed weights the three
  /// projections run as one GEMM. x: (B, L, E) -> (B, L, E).
  Variable forward(const Variable& x, const Tensor& key_padding_mask = Tensor()) const;

  /// True when the input projection is one packed `in_proj_weight` (kdim == vdim == embed_dim).
  bool packed() const { return packed_; }
  /// The options given at construction, with kdim and vdim resolved (never 0).
  const MultiHeadAttentionOptions& options() const { return options_; }

  Variable in_proj_weight;  ///< (3E, E) when packed(), else undefined
  Variable q_proj_weight;   ///< (E, E) when !packed(), else undefined
  Variable k_proj_weight;   ///< (E, kdim) when !packed(), else undefined
  Variable v_proj_weight;   ///< (E, vdim) when !packed(), else undefined
  Variable in_proj_bias;    ///< (3E); undefined when options.bias is false
  Linear out_proj;          ///< E -> E; parameters `out_proj.weight`, `out_proj.bias`

  /// When not null, every forward appends its attention probabilities (B, H, Lq, Lk) to
  /// `recorder->weights` (see the file overview). Null by default: nothing is recorded. Not a
  /// parameter and not saved; the caller owns the recorder and must keep it alive while set, and
  /// must not run the layer from several threads at once while recording (appends are not locked).
  AttentionRecorder* recorder = nullptr;

 private:
  /// Splits heads, attends, merges heads and applies out_proj. q: (B, Lq, E); k, v: (B, Lk, E).
  Variable attend(const Variable& q, const Variable& k, const Variable& v, const Tensor& key_padding_mask) const;

  MultiHeadAttentionOptions options_;
  bool packed_ = true;
};

}  // namespace tinydiff
