/// \file
/// \brief From prompts to images: `generate_images` runs the text encoder once, then a guided sampler (DDIM,
/// DDPM, Euler, Euler ancestral, Heun or DPM-Solver++(2M); sampler.h) over the U-Net.
///
/// Generation with classifier-free guidance (Ho & Salimans 2022; guidance.h): the prompts and
/// the empty prompt are encoded by the text encoder *once*, giving contexts \f$c\f$ and
/// \f$\varnothing\f$; every sampler step then evaluates the U-Net on the doubled batch
/// \f$[x_t; x_t]\f$ with contexts \f$[\varnothing; c]\f$ and combines
/// \f$\tilde\epsilon = \epsilon(x_t, \varnothing) + w\,(\epsilon(x_t, c) - \epsilon(x_t, \varnothing))\f$.
/// With \f$w = 1\f$ only the conditional half is evaluated, with \f$w = 0\f$ only the
/// unconditional one. Large requests are cut into chunks of `batch` images; each chunk starts
/// from its rows of the given \f$x_T\f$, so the result does not depend on `batch` for the deterministic
/// samplers (DDIM with \f$\eta = 0\f$, Euler, Heun, DPM-Solver++(2M)). The U-Net's output is read as the model's own
/// prediction type
/// (`TextToImageModel::prediction()`), so an \f$x_0\f$- or \f$v\f$-prediction model needs no extra setting.
/// A trained model, its tokenizer and its schedule come from a checkpoint with `load_trained_model`
/// (trained_model.h).
///
/// Usage:
/// \code
///   TrainedModel m = load_trained_model("run/checkpoint.safetensors");    // EMA weights
///   Generator gen(0);
///   Tensor x_T = gen.normal({4, m.config.image_channels, 32, 32});
///   Tensor images = generate_images(*m.model, *m.tokenizer, m.schedule,
///                                   std::vector<std::string>(4, "a photo of a sneaker"), x_T, gen, {});
///   save_png("out.png", make_grid(images, 4));
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/models/text_to_image.h"
#include "diffusion/models/tokenizer.h"
#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// Sampler options for images, \f$\hat x_0\f$ clipped to [-1, 1] at every step: for `SamplerKind::Ddim`,
/// DDIM with `steps` steps, \f$\eta\f$ = `eta` and the trailing spacing (the first step is t = T-1); for
/// `SamplerKind::Ddpm`, DDPM with \f$\sigma_t^2 = \tilde\beta_t\f$ over all T steps (`steps` and `eta` do not apply);
/// for Euler, Euler ancestral (\f$\eta = 1\f$), Heun and DPM-Solver++(2M), `steps` steps on the `sigmas` noise
/// levels (Karras's by default; `eta` does not apply: it is DDIM's). `sigmas` applies to those four only.
SamplerOptions image_sampler_options(SamplerKind kind, int64_t steps = 50, double eta = 0.0,
                                     SigmaSpacing sigmas = SigmaSpacing::Karras);

/// Options of generate_images.
struct GenerateOptions {
  /// The sampler and its options (DdimOptions, DdpmOptions, EulerOptions, ...); see image_sampler_options.
  SamplerOptions sampler = image_sampler_options(SamplerKind::Ddim);
  /// \f$w\f$ of classifier-free guidance; 1 is the plain conditional model, 0 unconditional.
  double guidance = 3.0;
  /// Images per chunk (the U-Net sees twice as many under guidance).
  int64_t batch = 64;
};

/// Generates one image per prompt from the noise `x_T` (N, C, S, S), N = prompts.size(), reading the
/// model's output as `model.prediction()`;
/// returns (N, C, S, S) clamped to [-1, 1]. `gen` supplies the sampler's noise (DDPM, Euler
/// ancestral, or DDIM with eta > 0). Runs without recording a graph. Throws Error when the shapes or the options
/// do not fit the model.
Tensor generate_images(const TextToImageModel& model, const Tokenizer& tokenizer, const NoiseSchedule& schedule,
                       const std::vector<std::string>& prompts, const Tensor& x_T, Generator& gen,
                       const GenerateOptions& options);

}  // namespace tinydiff
