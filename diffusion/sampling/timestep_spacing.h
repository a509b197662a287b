/// \file
/// \brief Timestep spacings: which of the T training timesteps a sampler of S steps visits.
///
/// A sampler with fewer steps than the T training timesteps (DDIM, ddim.h) walks a decreasing
/// subsequence of them. For T training steps and S sampling steps, with \f$k = \lfloor T/S \rfloor\f$
/// (listed from the first step, the noisiest, to the last; 0-based timesteps as in schedule.h):
/// - `"leading"` (DDIM paper code; diffusers' default): \f$\{ (S-1)k, \dots, 2k, k, 0 \}\f$.
///   T = 1000, S = 10: **900, 800, 700, 600, 500, 400, 300, 200, 100, 0**.
///   It never visits t = T-1, so sampling starts from a slightly "too clean" timestep.
/// - `"trailing"` (Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed", WACV 2024,
///   table 2): \f$\mathrm{round}(T - iT/S) - 1\f$ for \f$i = 0, \dots, S-1\f$.
///   T = 1000, S = 10: **999, 899, 799, 699, 599, 499, 399, 299, 199, 99**.
///   It always starts at t = T-1, matching \f$x_T \sim \mathcal{N}(0, I)\f$.
/// - `"linspace"` (diffusers): \f$\mathrm{round}(\mathrm{linspace}(0, T-1, S))\f$ reversed.
///   T = 1000, S = 10: **999, 888, 777, 666, 555, 444, 333, 222, 111, 0**.
///
/// Rounding is half to even, like numpy's, so the lists match diffusers'.
///
/// Usage:
/// \code
///   std::vector<int64_t> ts = sampling_timesteps(1000, 10, "trailing");   // 999, 899, ..., 99
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinydiff {

/// The timesteps a `steps`-step sampler visits, noisiest first, for the given spacing ("leading",
/// "trailing", "linspace"; see the file overview for the formulas and the T = 1000, S = 10 lists).
/// Throws Error for steps outside 1..T or an unknown spacing name.
std::vector<int64_t> sampling_timesteps(int64_t num_timesteps, int64_t steps, const std::string& spacing);

}  // namespace tinydiff
