/// \file
/// \brief Classifier-free guidance (Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop / 2022).
///
/// A network trained with condition dropout (objective.h, `condition_dropout_mask`) predicts both
/// \f$\epsilon_\theta(x_t, c)\f$ and \f$\epsilon_\theta(x_t, \varnothing)\f$. Sampling uses the extrapolation (eq. 6,
/// written with \f$w\f$ as the overall scale, the convention of Imagen and Stable Diffusion)
/// \f[ \tilde\epsilon = \epsilon_\theta(x_t, \varnothing) + w\,\bigl(\epsilon_\theta(x_t, c) - \epsilon_\theta(x_t,
/// \varnothing)\bigr), \f] so \f$w = 1\f$ is the plain conditional model, \f$w = 0\f$ the unconditional one, and \f$w >
/// 1\f$ sharpens samples towards the condition. At each noise level the guided output is the score of the tilted
/// density \f$p_t(x_t \mid c)^{w} p_t(x_t)^{1-w}\f$, but these tilted marginals are in general *not* the noised
/// versions of one distribution, so even with exact scores guided sampling does **not** sample
/// \f$\propto p(x \mid c)^{w} p(x)^{1-w}\f$ (Chidambaram et al. 2024, "What does guidance do? A fine-grained
/// analysis in a simple setting"; Bradley & Nakkiran 2024, "Classifier-Free Guidance is a Predictor-Corrector",
/// which shows that the DDPM and DDIM versions of guidance even reach different distributions).
/// The combination is affine with weights summing to 1, so it applies unchanged to \f$x_0\f$- and
/// \f$v\f$-prediction outputs (each is affine in \f$\epsilon\f$ at fixed \f$x_t\f$); the guided Denoiser keeps the
/// model's prediction type.
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
///   Denoiser unet_2b = [&](const Tensor& x2, const Tensor& t2) { return unet(x2, t2, both); };  // eps
///   Denoiser guided = classifier_free_guidance(unet_2b, 7.5);
///   Tensor img = ddim_sample(guided, schedule, gen.normal({B, 4, 32, 32}), gen, opt);
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// Wraps `batched_model` — a model evaluated on a doubled batch, (x2 (2B, ...), t2 int64 (2B)) -> output
/// (2B, ...), whose first B rows are unconditional and last B rows conditional (the closure supplies the
/// contexts) — into a Denoiser of the same prediction type returning \f$u + w(c - u)\f$ (see the file
/// overview), with one model call per step on \f$[x; x]\f$. Throws Error (when called) if the model's
/// output is not shaped (2B, ...) like \f$[x; x]\f$.
Denoiser classifier_free_guidance(Denoiser batched_model, double guidance_scale);

/// The guidance combination itself: \f$u + w\,(c - u)\f$ for equal-shaped `uncond` and `cond` outputs.
Tensor guided_output(const Tensor& uncond, const Tensor& cond, double guidance_scale);

}  // namespace tinydiff
