// Sampler dispatch and the shared denoiser call (see sampler.h).
#include "diffusion/sampling/sampler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/ddpm.h"
#include "diffusion/sampling/timestep_spacing.h"

namespace tinydiff {

std::vector<std::string> sampler_names() { return {"ddpm", "ddim"}; }

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

StepRange resolve_step_range(const StepRange& range, int64_t steps, const char* op) {
  const int64_t end = range.end == -1 ? steps : range.end;
  TD_CHECK(range.begin >= 0 && range.begin <= end && end <= steps, op,
           fmt::format("the step range [{}, {}) does not fit a sampler of {} steps; expected 0 <= begin <= end <= {} "
                       "(end -1 means {})",
                       range.begin, range.end, steps, steps, steps));
  return {range.begin, end};
}

std::vector<int64_t> sampler_timesteps(const NoiseSchedule& schedule, const SamplerOptions& options) {
  if (const auto* ddim = std::get_if<DdimOptions>(&options))
    return sampling_timesteps(schedule.num_timesteps, ddim->steps, ddim->spacing);
  std::vector<int64_t> ts(static_cast<size_t>(schedule.num_timesteps));
  for (int64_t i = 0; i < schedule.num_timesteps; ++i) ts[static_cast<size_t>(i)] = schedule.num_timesteps - 1 - i;
  return ts;  // DDPM: T-1, ..., 0
}

SamplerOptions with_step_range(SamplerOptions options, const StepRange& range) {
  std::visit([&](auto& o) { o.range = range; }, options);
  return options;
}

SamplerKind parse_sampler_kind(const std::string& name) {
  if (name == "ddpm") return SamplerKind::Ddpm;
  if (name == "ddim") return SamplerKind::Ddim;
  throw Error("sample",
              fmt::format("unknown sampler '{}'; expected one of: {}", name, fmt::join(sampler_names(), ", ")));
}

Tensor sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
              const SamplerOptions& options) {
  if (const auto* ddpm = std::get_if<DdpmOptions>(&options)) return ddpm_sample(denoiser, schedule, x_T, gen, *ddpm);
  return ddim_sample(denoiser, schedule, x_T, gen, std::get<DdimOptions>(options));
}

}  // namespace tinydiff
