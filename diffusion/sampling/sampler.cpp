// Sampler dispatch and the shared denoiser call (see sampler.h).
#include "diffusion/sampling/sampler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iterator>

#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/ddpm.h"
#include "diffusion/sampling/dpm_solver.h"
#include "diffusion/sampling/euler.h"
#include "diffusion/sampling/heun.h"

namespace tinydiff {

std::vector<std::string> sampler_names() { return {"ddim", "ddpm", "euler", "euler_a", "heun", "dpmpp_2m"}; }

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

SamplerKind parse_sampler_kind(const std::string& name) {
  if (name == "ddpm") return SamplerKind::Ddpm;
  if (name == "ddim") return SamplerKind::Ddim;
  if (name == "euler") return SamplerKind::Euler;
  if (name == "euler_a") return SamplerKind::EulerAncestral;
  if (name == "heun") return SamplerKind::Heun;
  if (name == "dpmpp_2m" || name == "dpm++2m") return SamplerKind::DpmSolver2M;  // the second: stable-diffusion.cpp's
  throw Error("sample",
              fmt::format("unknown sampler '{}'; expected one of: {}", name, fmt::join(sampler_names(), ", ")));
}

std::string sampler_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::Ddim:
      return "ddim";
    case SamplerKind::Ddpm:
      return "ddpm";
    case SamplerKind::Euler:
      return "euler";
    case SamplerKind::EulerAncestral:
      return "euler_a";
    case SamplerKind::Heun:
      return "heun";
    case SamplerKind::DpmSolver2M:
      return "dpmpp_2m";
  }
  return "?";
}

SamplerKind sampler_kind(const SamplerOptions& options) {
  // The variant's alternatives are listed in SamplerKind's order after DDIM and DDPM.
  constexpr SamplerKind kinds[] = {SamplerKind::Ddim,           SamplerKind::Ddpm, SamplerKind::Euler,
                                   SamplerKind::EulerAncestral, SamplerKind::Heun, SamplerKind::DpmSolver2M};
  static_assert(std::size(kinds) == std::variant_size_v<SamplerOptions>);
  return kinds[options.index()];
}

int64_t sampler_evaluations(const SamplerOptions& options, int64_t num_timesteps) {
  return std::visit(
      [&](const auto& o) -> int64_t {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, DdpmOptions>)
          return num_timesteps;
        else if constexpr (std::is_same_v<O, HeunOptions>)
          return 2 * o.steps - 1;
        else
          return o.steps;
      },
      options);
}

int64_t sampler_steps(const SamplerOptions& options, int64_t num_timesteps) {
  return std::visit(
      [&](const auto& o) -> int64_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, DdpmOptions>)
          return num_timesteps;
        else
          return o.steps;
      },
      options);
}

void set_step_callback(SamplerOptions& options, StepCallback callback) {
  std::visit([&](auto& o) { o.callback = std::move(callback); }, options);
}

Tensor sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
              const SamplerOptions& options) {
  return std::visit(
      [&](const auto& o) -> Tensor {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, DdimOptions>)
          return ddim_sample(denoiser, schedule, x_T, gen, o);
        else if constexpr (std::is_same_v<O, DdpmOptions>)
          return ddpm_sample(denoiser, schedule, x_T, gen, o);
        else if constexpr (std::is_same_v<O, EulerOptions>)
          return euler_sample(denoiser, schedule, x_T, gen, o);
        else if constexpr (std::is_same_v<O, EulerAncestralOptions>)
          return euler_ancestral_sample(denoiser, schedule, x_T, gen, o);
        else if constexpr (std::is_same_v<O, HeunOptions>)
          return heun_sample(denoiser, schedule, x_T, gen, o);
        else
          return dpm_solver_2m_sample(denoiser, schedule, x_T, gen, o);
      },
      options);
}

}  // namespace tinydiff
