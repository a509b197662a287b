/// \file
/// \brief Timestep spacings: which of the T training timesteps a sampler of S steps visits.
///
/// A sampler with fewer steps than the T training timesteps (DDIM, ddim.h) walks a decreasing
/// subsequence of them. For T training steps and S sampling steps, with \f$k = \lfloor T/S \rfloor\f$
/// (listed from the first step, the noisiest, to the last; 0-based timesteps as in schedule.h):
/// - `Leading` (DDIM paper code; diffusers' default): \f$\{ (S-1)k, \dots, 2k, k, 0 \}\f$.
///   T = 1000, S = 10: **900, 800, 700, 600, 500, 400, 300, 200, 100, 0**.
///   It never visits t = T-1, so sampling starts from a slightly "too clean" timestep.
/// - `Trailing`, the library's default (Lin et al., "Common Diffusion Noise Schedules and Sample Steps
///   are Flawed", WACV 2024, table 2): \f$\mathrm{round}(T - iT/S) - 1\f$ for \f$i = 0, \dots, S-1\f$.
///   T = 1000, S = 10: **999, 899, 799, 699, 599, 499, 399, 299, 199, 99**.
///   It always starts at t = T-1, matching \f$x_T \sim \mathcal{N}(0, I)\f$.
/// - `Linspace` (diffusers): \f$\mathrm{round}(\mathrm{linspace}(0, T-1, S))\f$ reversed.
///   T = 1000, S = 10: **999, 888, 777, 666, 555, 444, 333, 222, 111, 0**.
///
/// Rounding is half to even, like numpy's, so the lists match diffusers'.
///
/// Usage:
/// \code
///   std::vector<int64_t> ts = sampling_timesteps(1000, 10, TimestepSpacing::Trailing);  // 999, ..., 99
///   TimestepSpacing s = parse_timestep_spacing("leading");  // names only at a program's edge
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinydiff {

/// Which subsequence of the training timesteps a sampler visits (see the file overview).
enum class TimestepSpacing {
  Leading,   ///< \f$\{(S-1)k, \dots, k, 0\}\f$: never visits t = T-1
  Trailing,  ///< \f$\mathrm{round}(T - iT/S) - 1\f$: starts at t = T-1 (the default)
  Linspace,  ///< \f$\mathrm{round}(\mathrm{linspace}(0, T-1, S))\f$ reversed
};

/// The timesteps a `steps`-step sampler visits, noisiest first, for the given spacing (see the file
/// overview for the formulas and the T = 1000, S = 10 lists). Throws Error for steps outside 1..T.
std::vector<int64_t> sampling_timesteps(int64_t num_timesteps, int64_t steps,
                                        TimestepSpacing spacing = TimestepSpacing::Trailing);

/// The spacing named "leading", "trailing" or "linspace" (for command lines and files). Throws Error
/// naming the three for another name.
TimestepSpacing parse_timestep_spacing(const std::string& name);

/// The name of a spacing: "leading", "trailing" or "linspace".
std::string timestep_spacing_name(TimestepSpacing spacing);

}  // namespace tinydiff
