// --sampler, --sigmas and --eta of `tinydiff sample` and `tinydiff eval` (apps/sampler_args.h).
#include "apps/sampler_args.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>

#include "apps/cli_errors.h"

namespace tinydiff::cli {

void add_sampler_options(CLI::App* sub, SamplerArgs* a, const std::string& eta_help) {
  sub->add_option("--sampler,--sampling-method", a->sampler,
                  "ddim, ddpm, euler, euler_a (Euler ancestral), heun, or dpmpp_2m (DPM-Solver++(2M), also "
                  "'dpm++2m'; made for 10-20 steps, Lu et al. 2022)")
      ->capture_default_str();
  sub->add_option("--sigmas", a->sigmas,
                  "Noise levels of euler, euler_a, heun and dpmpp_2m: karras (Karras et al. 2022, rho 7) or uniform "
                  "(uniform in the timestep, like ddim)")
      ->capture_default_str();
  sub->add_option("--eta", a->eta, eta_help)->capture_default_str();
}

SamplerChoice parse_sampler_args(const SamplerArgs& a, const CLI::App& sub) {
  SamplerChoice c;
  try {
    c.kind = parse_sampler_kind(a.sampler);
  } catch (const Error&) {
    throw CliError(kExitUsage, fmt::format("unknown sampler '{}'", a.sampler),
                   fmt::format("choose --sampler {}", fmt::join(sampler_names(), ", ")));
  }
  try {
    c.sigmas = parse_sigma_spacing(a.sigmas);
  } catch (const Error&) {
    throw CliError(kExitUsage, fmt::format("unknown --sigmas '{}'", a.sigmas), "choose --sigmas karras or uniform");
  }
  if (!c.uses_sigmas() && sub.count("--sigmas"))
    throw CliError(kExitUsage, fmt::format("--sigmas does not apply to {}", a.sampler),
                   "--sigmas chooses the noise levels of euler, euler_a, heun and dpmpp_2m; ddim takes its "
                   "timesteps from --steps");
  if (!(a.eta >= 0 && a.eta <= 1))
    throw CliError(kExitUsage, fmt::format("--eta must be in [0, 1], got {}", a.eta), "0 is deterministic DDIM");
  if (c.kind != SamplerKind::Ddim && a.eta != 0)
    throw CliError(kExitUsage, fmt::format("--eta {} applies to ddim only", a.eta),
                   fmt::format("leave out --eta with --sampler {}", a.sampler));
  return c;
}

}  // namespace tinydiff::cli
