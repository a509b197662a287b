// Image-to-image (SDEdit, Meng et al. 2022) and inpainting (RePaint, Lugmayr et al. 2022) over any sampler's
// step ranges; the formulas are in editing.h.
#include "diffusion/sampling/editing.h"

#include <fmt/format.h>

#include <cmath>

#include "diffusion/process/forward_process.h"

namespace tinydiff {

namespace {

// A (B) int64 tensor of timestep t.
Tensor timesteps(int64_t t, int64_t B) {
  return Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), t), {B});
}

// The init image at timestep t (t = -1: clean, the image itself): q(x_t | x_0), DDPM eq. 4.
Tensor noised(const Tensor& x0, int64_t t, const Tensor& noise, const NoiseSchedule& schedule) {
  if (t < 0) return x0;
  return q_sample(x0, timesteps(t, x0.size(0)), noise, schedule);  // (B, ...)
}

void check_edit(const Tensor& noise, const EditOptions& edit) {
  const char* op = "edit_sample";
  TD_CHECK(edit.strength >= 0.0 && edit.strength <= 1.0, op,
           fmt::format("the strength must lie in [0, 1], got {}", edit.strength));
  TD_CHECK(edit.resample >= 1, op, fmt::format("resample must be at least 1, got {}", edit.resample));
  TD_CHECK(!edit.mask.defined() || edit.init.defined(), op,
           "an inpainting mask needs an init image (the pixels to keep)");
  if (!edit.init.defined()) return;
  TD_CHECK(edit.init.shape() == noise.shape() && edit.init.dtype() == noise.dtype(), op,
           fmt::format("the init image is {} {} but the noise is {} {}; expected the same shape and dtype",
                       shape_str(edit.init.shape()), dtype_name(edit.init.dtype()), shape_str(noise.shape()),
                       dtype_name(noise.dtype())));
  if (!edit.mask.defined()) return;
  TD_CHECK(edit.mask.dtype() == noise.dtype(), op,
           fmt::format("the mask is {}; expected the dtype of the image, {}", dtype_name(edit.mask.dtype()),
                       dtype_name(noise.dtype())));
  const double off = max_abs_diff(edit.mask * (edit.mask - 1.0), Tensor::zeros({1}, noise.dtype()));
  TD_CHECK(off == 0.0, op, "the mask has values other than 0 (keep) and 1 (generate)");
  bool broadcasts = edit.mask.dim() <= noise.dim();  // every mask axis, aligned from the right, is 1 or the image's
  for (int64_t k = 1; broadcasts && k <= edit.mask.dim(); ++k) {
    const int64_t m = edit.mask.size(edit.mask.dim() - k), x = noise.size(noise.dim() - k);
    broadcasts = m == 1 || m == x;
  }
  TD_CHECK(broadcasts, op,
           fmt::format("the mask {} does not broadcast to the image {}", shape_str(edit.mask.shape()),
                       shape_str(noise.shape())));
}

}  // namespace

int64_t strength_first_step(double strength, int64_t steps) {
  TD_CHECK(strength >= 0.0 && strength <= 1.0, "strength_first_step",
           fmt::format("the strength must lie in [0, 1], got {}", strength));
  TD_CHECK(steps >= 1, "strength_first_step", fmt::format("steps must be at least 1, got {}", steps));
  return steps - std::llround(strength * static_cast<double>(steps));
}

Tensor q_jump(const Tensor& x_s, int64_t s, int64_t t, const Tensor& noise, const NoiseSchedule& schedule) {
  TD_CHECK(s >= -1 && s < t && t < schedule.num_timesteps, "q_jump",
           fmt::format("expected -1 <= s < t <= {}, got s = {}, t = {}", schedule.num_timesteps - 1, s, t));
  check_defined(x_s, "q_jump");
  TD_CHECK(noise.defined() && noise.shape() == x_s.shape(), "q_jump",
           fmt::format("the noise must be shaped like x_s {}", shape_str(x_s.shape())));
  const double abar_s = s >= 0 ? schedule.value(schedule.alpha_bar, s) : 1.0;
  const double ratio = schedule.value(schedule.alpha_bar, t) / abar_s;  // abar_t / abar_s
  return x_s * std::sqrt(ratio) + noise * std::sqrt(1.0 - ratio);       // (B, ...)
}

Tensor edit_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& noise, Generator& gen,
                   const SamplerOptions& options, const EditOptions& edit) {
  check_defined(noise, "edit_sample");
  check_edit(noise, edit);
  if (!edit.init.defined()) return sample(denoiser, schedule, noise, gen, options);

  const std::vector<int64_t> ts = sampler_timesteps(schedule, options);
  const int64_t S = static_cast<int64_t>(ts.size());
  const int64_t k = strength_first_step(edit.strength, S);
  const auto level = [&](int64_t i) { return i < S ? ts[static_cast<size_t>(i)] : int64_t{-1}; };  // t_i; -1 clean

  // SDEdit's start (x at t_k): pure noise at strength 1, else the init image noised to t_k.
  Tensor x = k == 0 ? noise.contiguous() : noised(edit.init, level(k), noise, schedule);  // (B, ...)
  if (!edit.mask.defined()) return sample(denoiser, schedule, x, gen, with_step_range(options, {k, S}));

  // RePaint: one step at a time; after each, the known pixels become the init image at the new level.
  const Tensor keep = 1.0 - edit.mask;  // 1 = keep, broadcastable to (B, ...)
  for (int64_t i = k; i < S; ++i) {
    const SamplerOptions one_step = with_step_range(options, {i, i + 1});
    const int64_t repeats = i + 1 < S ? edit.resample : 1;  // the last step is not repeated (RePaint Alg. 1)
    for (int64_t r = 0; r < repeats; ++r) {
      const Tensor unknown = sample(denoiser, schedule, x, gen, one_step);  // x at t_{i+1}: (B, ...)
      const Tensor known = noised(edit.init, level(i + 1), gen.normal(x.shape(), 0.0, 1.0, x.dtype()), schedule);
      x = where(keep, known, unknown);  // (B, ...)
      if (r + 1 < repeats)              // back to t_i: q(x_{t_i} | x_{t_{i+1}})
        x = q_jump(x, level(i + 1), level(i), gen.normal(x.shape(), 0.0, 1.0, x.dtype()), schedule);
    }
  }
  return x;
}

}  // namespace tinydiff
