// A stack of transformer encoder layers. See transformer_encoder.h.
#include "nn/transformer_encoder.h"

#include <fmt/format.h>

namespace tinydiff {

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayerOptions& options, int64_t count, Generator& gen) {
  TD_CHECK(count >= 0, "TransformerEncoder", fmt::format("the number of layers must not be negative, got {}", count));
  for (int64_t i = 0; i < count; ++i) layers.emplace_back(options, gen);
  register_module("layers", layers);
}

Variable TransformerEncoder::forward(const Variable& x, const Tensor& key_padding_mask) const {
  Variable h = x;  // h: (B, L, d)
  for (const auto& layer : layers) h = layer->forward(h, key_padding_mask);
  return h;
}

}  // namespace tinydiff
