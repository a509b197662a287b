// Text encoder + U-Net. See text_to_image.h.
#include "diffusion/models/text_to_image.h"

namespace tinydiff {

TextToImageModel::TextToImageModel(const ModelConfig& config, Generator& gen, Prediction prediction)
    : text_encoder(config, gen), unet(config, gen), config_(config), prediction_(prediction) {
  register_module("text_encoder", text_encoder);
  register_module("unet", unet);
}

Variable TextToImageModel::forward(const Variable& x_t, const Tensor& t, const Tensor& ids, const Tensor& mask) const {
  Variable ctx = text_encoder.forward(ids, mask);  // ctx: (B, L, d)
  return unet.forward(x_t, t, ctx, mask);          // (B, C, H, W)
}

}  // namespace tinydiff
