// Classifier-free guidance (Ho & Salimans 2022): one doubled-batch model call, then u + w (c - u). See guidance.h.
#include "diffusion/sampling/guidance.h"

#include <fmt/format.h>

#include <utility>

namespace tinydiff {

Tensor guided_output(const Tensor& uncond, const Tensor& cond, double guidance_scale) {
  check_defined(uncond, "classifier_free_guidance");
  check_defined(cond, "classifier_free_guidance");
  TD_CHECK(uncond.shape() == cond.shape(), "classifier_free_guidance",
           fmt::format("unconditional output {} and conditional output {} differ in shape", shape_str(uncond.shape()),
                       shape_str(cond.shape())));
  return uncond + (cond - uncond) * guidance_scale;
}

Denoiser classifier_free_guidance(Denoiser batched_model, double guidance_scale) {
  TD_CHECK(static_cast<bool>(batched_model), "classifier_free_guidance", "the model is empty");
  const Prediction prediction = batched_model.prediction();
  auto guided = [model = std::move(batched_model), guidance_scale](const Tensor& x, const Tensor& t) -> Tensor {
    check_defined(x, "classifier_free_guidance");
    TD_CHECK(x.dim() >= 1, "classifier_free_guidance", "x must have a batch axis (B, ...), got a 0-d tensor");
    const int64_t B = x.size(0);
    const Tensor x2 = concat({x, x}, 0);  // (2B, ...): rows 0..B-1 unconditional, B..2B-1 conditional
    const Tensor t2 = concat({t, t}, 0);  // (2B) int64
    const Tensor out = model(x2, t2);     // (2B, ...)
    TD_CHECK(out.defined() && out.shape() == x2.shape(), "classifier_free_guidance",
             fmt::format("the model returned {} for the doubled batch {}; expected the same shape",
                         out.defined() ? shape_str(out.shape()) : std::string("an undefined tensor"),
                         shape_str(x2.shape())));
    const std::vector<Tensor> halves = split(out, {B, B}, 0);  // uncond, cond: (B, ...)
    return guided_output(halves[0], halves[1], guidance_scale);
  };
  return Denoiser(std::move(guided), prediction);
}

}  // namespace tinydiff
