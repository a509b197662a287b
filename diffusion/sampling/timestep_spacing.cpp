// Which timesteps a sampler visits: the leading, trailing and linspace spacings. See timestep_spacing.h.
#include "diffusion/sampling/timestep_spacing.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/error.h"

namespace tinydiff {

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

}  // namespace tinydiff
