/// \file
/// \brief Classifier-free guidance (Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop / 2022).
///
/// A network trained with condition dropout (objective.h, `condition_dropout_mask`) predicts both
/// \f$\epsilon_\theta(x_t, c)\f$ and \f$\epsilon_\theta(x_t, \varnothing)\f$. Sampling uses the extrapolation (eq. 6,
/// written with \f$w\f$ as the overall scale, the convention of Imagen and Stable Diffusion)
/// \f[ \tilde\epsilon = \epsilon_\theta(x_t, \varnothing) + w\,\bigl(\epsilon_\theta(x_t, c) - \epsilon_\theta(x_t,
/// \varnothing)\bigr), \f] so \f$w = 1\f$ is the plain conditional model, \f$w = 0\f$ the unconditional one, and \f$w >
/// 1\f$ sharpens samples towards the condition (it samples \f$\propto p(x \mid c)^{w} p(x)^{1-w}\f$ in the limit of
/// exact scores). The combination is affine with weights summing to 1, so it applies unchanged to \f$x_0\f$- and
/// \f$v\f$-prediction outputs (each is affine in \f$\epsilon\f$ at fixed \f$x_t\f$).
///
/// `classifier_free_guidance` turns a *batched* conditional model into a `Denoiser`: for input x (B, ...)
/// it calls the model **once** on the concatenation \f$[x; x]\f$ (2B, ...) with timesteps \f$[t; t]\f$, and the
/// model (the caller's closure) attaches the context: **rows 0..B-1 get the null (unconditional) context, rows
/// B..2B-1 the condition** — diffusers' order (`noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)`).
///
/// Usage:
/// \code
///   // ctx: (B, L, D) caption embeddings, null_ctx: (B, L, D) embeddings of the empty caption.
///   Tensor both = concat({null_ctx, ctx}, 0);                                   // (2B, L, D)
///   BatchedModel unet_2b = [&](const Tensor& x2, const Tensor& t2) { return unet(x2, t2, both); };
///   Denoiser guided = classifier_free_guidance(unet_2b, 7.5);
///   Tensor img = ddim_sample(guided, schedule, gen.normal({B, 4, 32, 32}), gen, opt);
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// A model evaluated on a doubled batch: (x2 (2B, ...), t2 int64 (2B)) -> output (2B, ...), whose first B
/// rows are unconditional and last B rows conditional (the closure supplies the contexts).
using BatchedModel = std::function<Tensor(const Tensor& x2, const Tensor& t2)>;

/// Wraps `model` into a Denoiser returning \f$\epsilon_{u} + w(\epsilon_{c} - \epsilon_{u})\f$ (see the file overview),
/// with one model call per step on \f$[x; x]\f$. Throws Error (when called) if the model's output is not
/// shaped (2B, ...) like \f$[x; x]\f$.
Denoiser classifier_free_guidance(BatchedModel model, double guidance_scale);

/// The guidance combination itself: \f$u + w\,(c - u)\f$ for equal-shaped `uncond` and `cond` outputs.
Tensor guided_output(const Tensor& uncond, const Tensor& cond, double guidance_scale);

}  // namespace tinydiff
