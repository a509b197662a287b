// The transformer text encoder. See text_encoder.h.
#include "diffusion/models/text_encoder.h"

#include <fmt/format.h>

namespace tinydiff {

namespace {
TransformerEncoderLayerOptions layer_options(const ModelConfig& c) {
  TransformerEncoderLayerOptions o;
  o.d_model = c.text_width;
  o.nhead = c.text_heads;
  o.dim_feedforward = 4 * c.text_width;
  o.activation = TransformerActivation::Gelu;
  o.norm_first = true;
  return o;
}
}  // namespace

TextEncoder::TextEncoder(const ModelConfig& c, Generator& gen)
    : tok({c.vocab_size, c.text_width}, gen),
      enc(layer_options(c), c.text_layers, gen),
      ln(LayerNormOptions{c.text_width}) {
  register_module("tok", tok);
  pos = register_parameter("pos", Tensor::zeros({1, c.max_length, c.text_width}));
  register_module("enc", enc);
  register_module("ln", ln);
}

Variable TextEncoder::forward(const Tensor& ids, const Tensor& mask) const {
  TD_CHECK(ids.dim() == 2 && ids.size(1) == pos.size(1), "TextEncoder",
           fmt::format("expected token ids of shape (B, {}), got {}", pos.size(1), shape_str(ids.shape())));
  Variable h = add(tok.forward(ids), pos);  // h: (B, L, d)
  h = enc.forward(h, mask);                 // h: (B, L, d)
  return ln.forward(h);
}

}  // namespace tinydiff
