/// \file
/// \brief What the network predicts — the noise \f$\epsilon\f$, the clean sample \f$x_0\f$ or the velocity \f$v\f$ —
/// and the conversions between the three.
///
/// With \f$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon\f$ (forward_process.h) a network
/// \f$f_\theta(x_t, t)\f$ can be trained to predict any of three equivalent quantities (its *parameterisation*):
/// - \f$\epsilon\f$, the noise (Ho et al. 2020, DDPM);
/// - \f$x_0\f$, the clean data;
/// - \f$v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0\f$ (Salimans & Ho, "Progressive
///   Distillation for Fast Sampling of Diffusion Models", ICLR 2022, sec. 4 and appendix D), well behaved
///   at both ends of the schedule.
///
/// Given \f$x_t\f$ any one determines the others:
/// \f[ x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon}{\sqrt{\bar\alpha_t}}, \quad
///     \epsilon = \frac{x_t - \sqrt{\bar\alpha_t}\,x_0}{\sqrt{1-\bar\alpha_t}}, \quad
///     x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,v, \quad
///     \epsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,v. \f]
///
/// The samplers (diffusion/sampling/) read a model output through `denoise`, whatever it predicts; the
/// training objective (objective.h) builds its regression target from the same definitions. Every function
/// takes a batch: tensors `(B, ...)` of equal shape and dtype (float32 or float64) and int64 timesteps `t`
/// `(B)`, 0-based (schedule.h).
///
/// Usage:
/// \code
///   Denoised d = denoise(out, x_t, t, schedule, Prediction::V);   // out, x_t: (B, C, H, W) -> d.x0, d.eps
///   Tensor eps = convert_prediction(out, x_t, t, schedule, Prediction::V, Prediction::Epsilon);
/// \endcode
#pragma once

#include <string>

#include "diffusion/process/schedule.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// What the network outputs (its "parameterisation").
enum class Prediction {
  Epsilon,  ///< the noise \f$\epsilon\f$ (DDPM)
  X0,       ///< the clean sample \f$x_0\f$
  V,        ///< the velocity \f$v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0\f$ (Salimans & Ho 2022)
};

/// "epsilon", "x0" or "v".
const char* prediction_name(Prediction prediction);
/// Parses "epsilon" (or "eps"), "x0" (or "sample") and "v" (or "v_prediction"); throws Error listing them otherwise.
Prediction parse_prediction(const std::string& name);

/// Checks that `a` and `b` are floating tensors of equal shape and dtype with a batch axis (B, ...);
/// throws Error naming `op`, both tensors by `a_name` and `b_name`, and their shapes and dtypes.
void check_same_batch(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name, const char* op);

/// The network's output split into both views: the predicted clean sample and the predicted noise.
struct Denoised {
  Tensor x0;   ///< \f$\hat x_0\f$, (B, ...)
  Tensor eps;  ///< \f$\hat\epsilon\f$, (B, ...)
};

/// Converts a model output of type `prediction` at \f$(x_t, t)\f$ into \f$(\hat x_0, \hat\epsilon)\f$ with the
/// formulas of the file overview. model_output, x_t: (B, ...) equal shapes and dtypes; t: int64 (B).
Denoised denoise(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule,
                 Prediction prediction);

/// Converts a model output from one parameterisation to another at \f$(x_t, t)\f$ (e.g. v to epsilon).
Tensor convert_prediction(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule,
                          Prediction from, Prediction to);

/// \f$\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}\f$ (DDPM eq. 15 rearranged).
Tensor x0_from_eps(const Tensor& x_t, const Tensor& eps, const Tensor& t, const NoiseSchedule& schedule);
/// \f$\hat\epsilon = (x_t - \sqrt{\bar\alpha_t}\,\hat x_0)/\sqrt{1-\bar\alpha_t}\f$.
Tensor eps_from_x0(const Tensor& x_t, const Tensor& x0, const Tensor& t, const NoiseSchedule& schedule);
/// \f$v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0\f$ from a pair \f$(x_0, \epsilon)\f$.
Tensor v_from_x0_eps(const Tensor& x0, const Tensor& eps, const Tensor& t, const NoiseSchedule& schedule);
/// \f$\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,\hat v\f$ (Salimans & Ho 2022, appendix D).
Tensor x0_from_v(const Tensor& x_t, const Tensor& v, const Tensor& t, const NoiseSchedule& schedule);
/// \f$\hat\epsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,\hat v\f$.
Tensor eps_from_v(const Tensor& x_t, const Tensor& v, const Tensor& t, const NoiseSchedule& schedule);

}  // namespace tinydiff
