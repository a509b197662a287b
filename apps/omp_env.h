/// \file
/// \brief Idle OpenMP threads sleep rather than spin: OMP_WAIT_POLICY=passive unless the user chose.
///
/// GCC's OpenMP runtime (libgomp, which OpenBLAS's OpenMP build shares) lets a thread that waits
/// at the end of a parallel region spin for a while before it sleeps. On an idle machine that
/// saves a wake-up of a few microseconds; on a machine doing anything else (a browser, a
/// compiler, another training run) the spinning thread keeps its core from the very thread it
/// waits for, and the tiny config's training step, made of thousands of short parallel loops,
/// became 3-4x slower. Measured side by side on this project's 2-core machine while two
/// compilers ran (`tinydiff-bench --case train_b64 --threads 2`, median of 5 steps): 4,934 ms
/// with the default policy, 1,259-1,332 ms with `OMP_WAIT_POLICY=passive`. Even on the idle
/// machine spinning did not pay (same command, OPENBLAS_CORETYPE unset, two runs each): 634 and
/// 679 ms active, 330 and 330 ms passive (more in docs/performance.md).
///
/// libgomp reads the variable once, when it is loaded, before `main` runs; so when it is unset,
/// `main` sets it and re-executes the program (same arguments, same process id; nothing has
/// been done yet). Set `OMP_WAIT_POLICY=active` (or anything) to keep your own choice.
///
/// Usage (the first line of main):
/// \code
///   tinydiff::cli::use_passive_omp_wait_by_default(argv);
/// \endcode
#pragma once

#include <unistd.h>

#include <cstdlib>

namespace tinydiff::cli {

/// When OMP_WAIT_POLICY is unset: sets it to "passive" and re-executes /proc/self/exe with
/// `argv`. Returns (doing nothing else) when the variable is set or the re-execution fails.
inline void use_passive_omp_wait_by_default(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Only reached if execv failed (e.g. no /proc): run on with libgomp's default policy.
}

}  // namespace tinydiff::cli
