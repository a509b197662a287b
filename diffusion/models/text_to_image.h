/// \file
/// \brief `TextToImageModel`: the text encoder and the U-Net as one module, trained together.
///
/// \f[ \hat\epsilon = \epsilon_\theta(x_t, t, \tau_\theta(y)) \f]
/// where \f$\tau_\theta\f$ is the TextEncoder applied to the prompt's tokens y and
/// \f$\epsilon_\theta\f$ the UNet. Both sets of parameters live in one module (names
/// `text_encoder.*` and `unet.*`), so one optimizer trains them end to end with the noise-
/// prediction MSE, and one checkpoint holds them. The model also knows what its output means
/// (`prediction()`: \f$\epsilon\f$, \f$x_0\f$ or \f$v\f$; prediction.h), so that `generate_images` (generate.h)
/// reads it correctly without being told.
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
#include "diffusion/process/prediction.h"

namespace tinydiff {

/// Text encoder + U-Net.
class TextToImageModel : public Module {
 public:
  /// Builds both networks for `config`, initialising parameters from `gen`; the output will be read as
  /// `prediction` (the trainer's objective decides it; a checkpoint records it).
  TextToImageModel(const ModelConfig& config, Generator& gen, Prediction prediction = Prediction::Epsilon);
  /// x_t: (B, C, H, W); t: (B) int64; ids: (B, L) int64; mask: (B, L) -> the prediction (B, C, H, W).
  Variable forward(const Variable& x_t, const Tensor& t, const Tensor& ids, const Tensor& mask) const;
  /// The config the model was built from.
  const ModelConfig& config() const { return config_; }
  /// What the output is: \f$\epsilon\f$, \f$x_0\f$ or \f$v\f$.
  Prediction prediction() const { return prediction_; }

  TextEncoder text_encoder;  ///< \f$\tau_\theta\f$
  UNet unet;                 ///< \f$\epsilon_\theta\f$

 private:
  ModelConfig config_;
  Prediction prediction_;
};

}  // namespace tinydiff
