/// \file
/// \brief DDIM inversion: deterministic DDIM run backwards, from an image \f$x_0\f$ to the noise \f$x_T\f$ that DDIM
/// (\f$\eta = 0\f$) turns back into it.
///
/// Deterministic DDIM is a discretisation of an ODE (Song, Meng & Ermon, "Denoising Diffusion Implicit Models",
/// ICLR 2021, sec. 4.3, eq. 14), so it can be integrated in the direction of increasing t to *encode* \f$x_0\f$ as
/// \f$x_T\f$ ("DDIM inversion"; used by Mokady et al., "Null-text Inversion for Editing Real Images using Guided
/// Diffusion Models", CVPR 2023, and diffusers' `DDIMInverseScheduler`). Sampling step i goes from \f$t = \tau_i\f$
/// down to \f$s = \tau_{i+1}\f$ (ddim.h); its inversion goes from s up to t, evaluating the model at the *current*
/// point \f$x_s\f$ but at the step's timestep t (where the sampling step evaluates it at \f$x_t\f$):
/// \f[ \hat\epsilon = \epsilon_\theta(x_s, t), \qquad
///     \hat x_0 = \frac{x_s - \sqrt{1-\bar\alpha_s}\,\hat\epsilon}{\sqrt{\bar\alpha_s}}, \qquad
///     x_t = \sqrt{\bar\alpha_t}\,\hat x_0 + \sqrt{1-\bar\alpha_t}\;\hat\epsilon \f]
/// (eq. 12 with \f$\sigma = 0\f$ solved for the noisier side; \f$\bar\alpha_s = 1\f$ for the clean image before the
/// first inversion step). If \f$\epsilon_\theta(x_t, t)\f$ were equal to \f$\epsilon_\theta(x_s, t)\f$ the sampling
/// step would undo this exactly; they differ by \f$O(|x_t - x_s|)\f$, so the round trip \f$x_0 \to x_T \to x_0\f$ is
/// exact only as the steps \f$\to \infty\f$. Under classifier-free guidance with \f$w \ne 1\f$ the guided output is not
/// the score of one ODE that the forward and backward passes share in the same way, and the round trip drifts much more
/// (the problem null-text inversion fixes): invert at guidance 1 to reconstruct, then edit. An x0- or v-prediction
/// output is read as \f$\hat\epsilon\f$ with `denoise` at \f$(x_s, t)\f$. No clipping is applied.
///
/// Usage:
/// \code
///   DdimOptions opt;
///   opt.steps = 50;                                                  // eta must be 0
///   Tensor x_T = ddim_invert(model, schedule, image, opt);           // (B, ...)
///   Generator gen(0);
///   Tensor back = ddim_sample(model, schedule, x_T, gen, opt);       // ~ image
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// One DDIM inversion step from timestep `s` (-1: clean data, \f$\bar\alpha = 1\f$) up to `t` > s, given the model
/// output at \f$(x_s, t)\f$ of a model predicting `prediction` (the formula in the file overview).
/// x_s, model_output: (B, ...). Returns \f$x_t\f$ (B, ...).
Tensor ddim_inversion_step(const Tensor& model_output, const Tensor& x_s, int64_t s, int64_t t,
                           const NoiseSchedule& schedule, Prediction prediction = Prediction::Epsilon);

/// DDIM inversion of `x0` (B, ...) over the timesteps of `options.steps` and `options.spacing` (those
/// `ddim_sample` with the same options visits), in increasing t: returns the \f$x_T\f$ at the first sampling
/// timestep from which `ddim_sample` with `options` reconstructs x0 (up to the error discussed above). With
/// `options.range` it inverts the steps end-1 down to begin: x0 is then x at the timestep of step `range.end`
/// (clean data when end = S), and the result x at the timestep of step `range.begin`. Calls
/// `options.callback` with each step's index, its timestep t, the current x and \f$\hat x_0\f$. Throws Error for
/// eta != 0 (inversion is of the deterministic sampler) or a denoiser output not shaped like x0.
Tensor ddim_invert(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x0,
                   const DdimOptions& options = {});

}  // namespace tinydiff
