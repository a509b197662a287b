// Which timesteps a sampler visits: the leading, trailing and linspace spacings. See timestep_spacing.h.
#include "diffusion/sampling/timestep_spacing.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/error.h"

namespace tinydiff {

TimestepSpacing parse_timestep_spacing(const std::string& name) {
  if (name == "leading") return TimestepSpacing::Leading;
  if (name == "trailing") return TimestepSpacing::Trailing;
  if (name == "linspace") return TimestepSpacing::Linspace;
  throw Error("sampling_timesteps",
              fmt::format("unknown timestep spacing '{}'; expected one of: leading, trailing, linspace", name));
}

std::string timestep_spacing_name(TimestepSpacing spacing) {
  switch (spacing) {
    case TimestepSpacing::Leading:
      return "leading";
    case TimestepSpacing::Trailing:
      return "trailing";
    case TimestepSpacing::Linspace:
      return "linspace";
  }
  throw Error("timestep_spacing_name", fmt::format("invalid spacing value {}", static_cast<int>(spacing)));
}

std::vector<int64_t> sampling_timesteps(int64_t num_timesteps, int64_t steps, TimestepSpacing spacing) {
  const int64_t T = num_timesteps;
  TD_CHECK(T >= 1, "sampling_timesteps", fmt::format("num_timesteps must be >= 1, got {}", T));
  TD_CHECK(steps >= 1 && steps <= T, "sampling_timesteps",
           fmt::format("steps must lie in 1..{} (the number of training timesteps T), got {}", T, steps));
  std::vector<int64_t> ts(static_cast<size_t>(steps));
  // std::nearbyint rounds half to even, like numpy.round, so the lists match diffusers'.
  if (spacing == TimestepSpacing::Leading) {
    const int64_t k = T / steps;
    for (int64_t i = 0; i < steps; ++i) ts[i] = (steps - 1 - i) * k;
  } else if (spacing == TimestepSpacing::Trailing) {
    const double ratio = static_cast<double>(T) / static_cast<double>(steps);
    for (int64_t i = 0; i < steps; ++i) {
      ts[i] = static_cast<int64_t>(std::nearbyint(static_cast<double>(T) - static_cast<double>(i) * ratio)) - 1;
    }
  } else {  // TimestepSpacing::Linspace
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t j = steps - 1 - i;  // linspace index, reversed
      const double v = steps == 1 ? 0.0 : static_cast<double>(j) * static_cast<double>(T - 1) / (steps - 1);
      ts[i] = static_cast<int64_t>(std::nearbyint(v));
    }
  }
  return ts;
}

}  // namespace tinydiff
