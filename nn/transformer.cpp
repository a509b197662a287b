// TransformerEncoderLayer, as torch.nn.TransformerEncoderLayer(batch_first=True). See transformer.h.
#include "nn/transformer.h"

#include <fmt/format.h>

#include "autograd/ops_elementwise.h"

namespace tinydiff {

namespace {
/// Checks the options before any child is built (so errors name this layer, not a child).
const TransformerEncoderLayerOptions& checked(const TransformerEncoderLayerOptions& o) {
  TD_CHECK(o.d_model > 0 && o.nhead > 0 && o.d_model % o.nhead == 0 && o.dim_feedforward > 0 && o.layer_norm_eps > 0,
           "TransformerEncoderLayer",
           fmt::format("expected d_model ({}) a positive multiple of nhead ({}), dim_feedforward ({}) > 0 and "
                       "layer_norm_eps ({}) > 0",
                       o.d_model, o.nhead, o.dim_feedforward, o.layer_norm_eps));
  return o;
}
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& options, Generator& gen)
    : self_attn({.embed_dim = checked(options).d_model, .num_heads = options.nhead}, gen),
      linear1({.in_features = options.d_model, .out_features = options.dim_feedforward}, gen),
      linear2({.in_features = options.dim_feedforward, .out_features = options.d_model}, gen),
      norm1({.normalized_shape = options.d_model, .eps = options.layer_norm_eps}),
      norm2({.normalized_shape = options.d_model, .eps = options.layer_norm_eps}),
      options_(options) {
  // PyTorch's registration order: self_attn, linear1, (dropout), linear2, norm1, norm2.
  register_module("self_attn", self_attn);
  register_module("linear1", linear1);
  register_module("linear2", linear2);
  register_module("norm1", norm1);
  register_module("norm2", norm2);
}

Variable TransformerEncoderLayer::feed_forward(const Variable& x) const {
  Variable h = linear1.forward(x);  // h: (B, L, ff)
  h = options_.activation == TransformerActivation::Gelu ? gelu_erf(h) : relu(h);
  return linear2.forward(h);  // (B, L, d)
}

Variable TransformerEncoderLayer::forward(const Variable& x, const Tensor& key_padding_mask) const {
  TD_CHECK(x.dim() == 3 && x.size(2) == options_.d_model, "TransformerEncoderLayer",
           fmt::format("input of shape {}: expected (B, L, {})", shape_str(x.shape()), options_.d_model));
  // x: (B, L, d)
  if (options_.norm_first) {
    Variable h = x + self_attn.forward(norm1.forward(x), key_padding_mask);
    return h + feed_forward(norm2.forward(h));
  }
  Variable h = norm1.forward(x + self_attn.forward(x, key_padding_mask));
  return norm2.forward(h + feed_forward(h));
}

}  // namespace tinydiff
