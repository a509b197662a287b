// Sampler dispatch, timestep spacings and the shared denoiser call (see sampler.h).
#include "diffusion/sampling/sampler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/ddpm.h"

namespace tinydiff {

std::vector<std::string> sampler_names() { return {"ddpm", "ddim"}; }

std::vector<int64_t> sampling_timesteps(int64_t num_timesteps, int64_t steps, const std::string& spacing) {
  const int64_t T = num_timesteps;
  TD_CHECK(T >= 1, "sampling_timesteps", fmt::format("num_timesteps must be >= 1, got {}", T));
  TD_CHECK(steps >= 1 && steps <= T, "sampling_timesteps",
           fmt::format("steps must lie in 1..{} (the number of training timesteps T), got {}", T, steps));
  std::vector<int64_t> ts(static_cast<size_t>(steps));
  // std::nearbyint rounds half to even, like numpy.round, so the lists match diffusers'.
  if (spacing == "leading") {
    const int64_t k = T / steps;
    for (int64_t i = 0; i < steps; ++i) ts[i] = (steps - 1 - i) * k;
  } else if (spacing == "trailing") {
    const double ratio = static_cast<double>(T) / static_cast<double>(steps);
    for (int64_t i = 0; i < steps; ++i) {
      ts[i] = static_cast<int64_t>(std::nearbyint(static_cast<double>(T) - static_cast<double>(i) * ratio)) - 1;
    }
  } else if (spacing == "linspace") {
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t j = steps - 1 - i;  // linspace index, reversed
      const double v = steps == 1 ? 0.0 : static_cast<double>(j) * static_cast<double>(T - 1) / (steps - 1);
      ts[i] = static_cast<int64_t>(std::nearbyint(v));
    }
  } else {
    throw Error("sampling_timesteps",
                fmt::format("unknown timestep spacing '{}'; expected one of: leading, trailing, linspace", spacing));
  }
  return ts;
}

Tensor call_denoiser(const Denoiser& denoiser, const Tensor& x, int64_t t, const char* op) {
  TD_CHECK(static_cast<bool>(denoiser), op, "the denoiser is empty");
  const int64_t B = x.size(0);
  const Tensor tt = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(B), t), {B});  // (B) int64
  Tensor out = denoiser(x, tt);
  TD_CHECK(out.defined(), op, fmt::format("the denoiser returned an undefined tensor at t = {}", t));
  TD_CHECK(
      out.shape() == x.shape() && out.dtype() == x.dtype(), op,
      fmt::format("the denoiser returned {} {} at t = {} for x_t of {} {}; expected the shape and dtype of x_t",
                  shape_str(out.shape()), dtype_name(out.dtype()), t, shape_str(x.shape()), dtype_name(x.dtype())));
  return out;
}

Tensor sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
              const SamplerOptions& options) {
  if (options.sampler == "ddpm") return ddpm_sample(denoiser, schedule, x_T, gen, options);
  if (options.sampler == "ddim") return ddim_sample(denoiser, schedule, x_T, gen, options);
  throw Error("sample", fmt::format("unknown sampler '{}'; expected one of: {}", options.sampler,
                                    fmt::join(sampler_names(), ", ")));
}

}  // namespace tinydiff
