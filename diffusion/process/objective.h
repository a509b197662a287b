/// \file
/// \brief The training objective: the regression target of each parameterisation, the loss with optional
/// min-SNR-\f$\gamma\f$ weighting, timestep sampling and caption dropout.
///
/// With \f$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon\f$ (forward_process.h) a network
/// \f$f_\theta(x_t, t)\f$ is trained to predict \f$\epsilon\f$, \f$x_0\f$ or \f$v\f$ (prediction.h, which also
/// converts between them). For \f$\epsilon\f$ this is DDPM's "L_simple" (Ho et al. 2020, eq. 14):
/// \f$L = \mathbb{E}\,\lVert \epsilon - \epsilon_\theta(x_t, t)\rVert^2\f$; for \f$x_0\f$ and \f$v\f$ the target
/// changes accordingly.
///
/// **Min-SNR-\f$\gamma\f$ weighting** (Hang et al., "Efficient Diffusion Training via Min-SNR Weighting
/// Strategy", ICCV 2023): all three losses are the same \f$x_0\f$-loss up to a per-timestep factor
/// (\f$\lVert\epsilon - \hat\epsilon\rVert^2 = \mathrm{SNR}_t \lVert x_0 - \hat x_0\rVert^2\f$ and
/// \f$\lVert v - \hat v\rVert^2 = (\mathrm{SNR}_t + 1)\lVert x_0 - \hat x_0\rVert^2\f$, with
/// \f$\mathrm{SNR}_t = \bar\alpha_t/(1-\bar\alpha_t)\f$). Min-SNR gives the \f$x_0\f$-loss the weight
/// \f$\min(\mathrm{SNR}_t, \gamma)\f$, so easy low-noise steps stop dominating. In each parameterisation:
/// \f[ w_t^{\epsilon} = \frac{\min(\mathrm{SNR}_t, \gamma)}{\mathrm{SNR}_t}, \quad
///     w_t^{v} = \frac{\min(\mathrm{SNR}_t, \gamma)}{\mathrm{SNR}_t + 1}, \quad
///     w_t^{x_0} = \min(\mathrm{SNR}_t, \gamma). \f]
/// \f$\gamma = 5\f$ is the paper's choice; \f$\gamma = 0\f$ here means "off" (every weight 1).
///
/// **Classifier-free guidance training** (Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022):
/// the condition (caption) of each example is replaced by the null condition with probability
/// \f$p_{uncond}\f$ (0.1 to 0.2), so one network learns both \f$\epsilon(x_t, c)\f$ and \f$\epsilon(x_t,
/// \varnothing)\f$; `condition_dropout_mask` draws which examples drop theirs. Sampling with guidance is in guidance.h.
///
/// Usage (one training step):
/// \code
///   Tensor t = sample_timesteps(gen, B, schedule.num_timesteps);   // int64 (B)
///   Tensor noise = gen.normal(x0.shape());
///   Tensor xt = q_sample(x0, t, noise, schedule);
///   Variable out = model(Variable(xt), t);                          // (B, ...) like x0
///   Variable loss = diffusion_loss(out, x0, noise, t, schedule, Prediction::Epsilon, 5.0);
///   loss.backward();
/// \endcode
#pragma once

#include "autograd/variable.h"
#include "diffusion/process/prediction.h"
#include "diffusion/process/schedule.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// The regression target of the network for `prediction`: \f$\epsilon\f$, \f$x_0\f$ or
/// \f$v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0\f$.
/// x0, noise: (B, ...) of equal shape and dtype; t: int64 (B). Returns (B, ...).
Tensor prediction_target(const Tensor& x0, const Tensor& noise, const Tensor& t, const NoiseSchedule& schedule,
                         Prediction prediction);

/// Per-example loss weights (B,) float64 for min-SNR-\f$\gamma\f$ (see the file overview):
/// \f$\min(\mathrm{SNR}_t,\gamma)/\mathrm{SNR}_t\f$ (epsilon), \f$\min(\mathrm{SNR}_t,\gamma)/(\mathrm{SNR}_t+1)\f$
/// (v), \f$\min(\mathrm{SNR}_t,\gamma)\f$ (x0). `gamma` = 0 returns all ones; negative gamma throws.
Tensor min_snr_weights(const Tensor& t, const NoiseSchedule& schedule, Prediction prediction, double gamma);

/// The diffusion training loss, a scalar Variable:
/// \f[ L = \frac{1}{B}\sum_{b} w_b \cdot \frac{1}{N}\sum_{i} \left(f_\theta(x_t, t)_{b,i} - y_{b,i}\right)^2 \f]
/// with target \f$y\f$ = `prediction_target(x0, noise, t, schedule, prediction)`, N the number of elements
/// per example, and \f$w_b\f$ = `min_snr_weights(t, schedule, prediction, min_snr_gamma)` (all 1 when
/// `min_snr_gamma` = 0: DDPM's \f$L_{simple}\f$). Gradients flow into `model_output` only.
/// \param model_output the network's prediction (B, ...), float32 or float64.
/// \param x0 the clean batch, \param noise the \f$\epsilon\f$ used to make \f$x_t\f$: both shaped like model_output.
/// \param t the int64 (B) timesteps used to make \f$x_t\f$.
/// \param schedule the noise schedule used to make \f$x_t\f$.
/// \param prediction what the network outputs (decides the target).
/// \param min_snr_gamma \f$\gamma\f$ of min-SNR weighting; 0 turns it off.
Variable diffusion_loss(const Variable& model_output, const Tensor& x0, const Tensor& noise, const Tensor& t,
                        const NoiseSchedule& schedule, Prediction prediction, double min_snr_gamma = 0.0);

/// Uniform training timesteps: int64 (batch) with values in [0, num_timesteps - 1] (DDPM Algorithm 1).
Tensor sample_timesteps(Generator& gen, int64_t batch, int64_t num_timesteps);

/// Which examples drop their condition for classifier-free guidance training (Ho & Salimans 2022):
/// a (batch) tensor of `dtype` holding 1.0 where the condition is replaced by the null condition
/// (probability `p`) and 0.0 where it is kept. Throws unless 0 <= p <= 1.
Tensor condition_dropout_mask(Generator& gen, int64_t batch, double p = 0.1, DType dtype = DType::F32);

}  // namespace tinydiff
