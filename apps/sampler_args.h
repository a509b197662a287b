/// \file
/// \brief `--sampler`, `--sigmas` and `--eta`: the sampler options `tinydiff sample` and `tinydiff eval` share.
///
/// One place declares the three options and turns them into a sampler choice, so both commands accept
/// the same names and refuse the same combinations with the same one-line errors (exit 1):
/// an unknown sampler or spacing, `--sigmas` with ddim or ddpm (they take their timesteps from
/// `--steps`), and `--eta` outside [0, 1] or with a sampler other than ddim.
///
/// Usage:
/// \code
///   SamplerArgs s;
///   add_sampler_options(sub, &s, "DDIM eta: 0 deterministic, 1 DDPM-like noise");
///   ...                                      // after parsing:
///   const SamplerChoice c = parse_sampler_args(s, *sub);
/// \endcode
#pragma once

#include <string>

#include "diffusion/sampling/karras_sigmas.h"
#include "diffusion/sampling/sampler.h"

namespace CLI {
class App;
}

namespace tinydiff::cli {

/// The raw option values, as typed.
struct SamplerArgs {
  std::string sampler = "ddim";   ///< --sampler
  std::string sigmas = "karras";  ///< --sigmas
  double eta = 0.0;               ///< --eta
};

/// What the options name.
struct SamplerChoice {
  SamplerKind kind = SamplerKind::Ddim;        ///< the sampler
  SigmaSpacing sigmas = SigmaSpacing::Karras;  ///< its noise levels (the σ-grid samplers only)
  /// True for the samplers on the sigma grid (euler, euler_a, heun, dpmpp_2m), which --sigmas applies to.
  bool uses_sigmas() const { return kind != SamplerKind::Ddim && kind != SamplerKind::Ddpm; }
};

/// Declares --sampler, --sigmas and --eta on `sub`, writing into `a`; `eta_help` is the command's own
/// description of --eta.
void add_sampler_options(CLI::App* sub, SamplerArgs* a, const std::string& eta_help);

/// The choice `a` names, after `sub` has parsed; throws CliError (kExitUsage) for the combinations above.
SamplerChoice parse_sampler_args(const SamplerArgs& a, const CLI::App& sub);

}  // namespace tinydiff::cli
