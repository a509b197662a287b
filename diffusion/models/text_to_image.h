/// \file
/// \brief `TextToImageModel`: the text encoder and the U-Net as one module, trained together.
///
/// \f[ \hat\epsilon = \epsilon_\theta(x_t, t, \tau_\theta(y)) \f]
/// where \f$\tau_\theta\f$ is the TextEncoder applied to the prompt's tokens y and
/// \f$\epsilon_\theta\f$ the UNet. Both sets of parameters live in one module (names
/// `text_encoder.*` and `unet.*`), so one optimizer trains them end to end with the noise-
/// prediction MSE, and one checkpoint holds them.
///
/// Usage:
/// \code
///   TextToImageModel model(model_config("tiny", 1), gen);
///   fmt::print("{} parameters\n", model.parameter_count());   // 1,292,001
///   Variable eps = model.forward(x_t, t, batch.ids, batch.mask);
/// \endcode
#pragma once

#include "diffusion/models/text_encoder.h"
#include "diffusion/models/unet.h"

namespace tinydiff {

/// Text encoder + U-Net.
class TextToImageModel : public Module {
 public:
  /// Builds both networks for `config`, initialising parameters from `gen`.
  TextToImageModel(const ModelConfig& config, Generator& gen);
  /// x_t: (B, C, H, W); t: (B) int64; ids: (B, L) int64; mask: (B, L) -> predicted noise (B, C, H, W).
  Variable forward(const Variable& x_t, const Tensor& t, const Tensor& ids, const Tensor& mask) const;
  /// The config the model was built from.
  const ModelConfig& config() const { return config_; }

  TextEncoder text_encoder;  ///< \f$\tau_\theta\f$
  UNet unet;                 ///< \f$\epsilon_\theta\f$

 private:
  ModelConfig config_;
};

}  // namespace tinydiff
