/// \file
/// \brief Start-up of every program that does heavy maths: idle OpenMP threads sleep rather
/// than spin, and OpenBLAS runs the best kernels this CPU supports, checked before they are used.
///
/// Both settings are read by the libraries when they are loaded, before `main` runs: libgomp
/// reads `OMP_WAIT_POLICY` and OpenBLAS reads `OPENBLAS_CORETYPE`. So when either has to
/// change, `prepare_process` sets the variables and re-executes the program, once (same
/// arguments, same process id; nothing has been done yet).
///
/// **Wait policy.** GCC's OpenMP runtime (libgomp, which OpenBLAS's OpenMP build shares) lets a
/// thread that waits at the end of a parallel region spin for a while before it sleeps. On an
/// idle machine that saves a wake-up of a few microseconds; on a machine doing anything else (a
/// browser, a compiler, another training run) the spinning thread keeps its core from the very
/// thread it waits for, and the tiny config's training step, made of thousands of short parallel
/// loops, became 3-4x slower. Measured side by side on this project's 2-core machine while two
/// compilers ran (`tinydiff-bench --case train_b64 --threads 2`, median of 5 steps): 4,934 ms
/// with the default policy, 1,259-1,332 ms with `OMP_WAIT_POLICY=passive`. Even on the idle
/// machine spinning did not pay (same command, two runs each): 634 and 679 ms active, 330 and
/// 330 ms passive (more in docs/performance.md). When the variable is unset it becomes
/// `passive`; set it (to anything) to keep your own choice.
///
/// **Kernels.** When `OPENBLAS_CORETYPE` is unset and the library loaded an older kernel set than
/// the CPU supports (tensor/blas_core.h), the best set is tried first: a child process runs the
/// program with that set and `check_gemm` compares its products with a naive one, so a set that
/// computes wrong results or executes an illegal instruction cannot take the program down. The
/// verdict is remembered in `cache_folder()/blas_check.txt` (keyed by OpenBLAS build, kernel set
/// and CPU). A set that fails gives one warning line and the next older set is tried; if every
/// set fails, the program stops with an error. A user's own `OPENBLAS_CORETYPE` is respected;
/// when it names older kernels than the CPU supports, one warning line says what it costs and
/// how to change it (once per process tree: the warning sets `TINYDIFF_BLAS_WARNING=off` for the
/// programs this one starts; set it yourself to silence the warning).
///
/// Variables this sets for itself and the programs it starts: `TINYDIFF_REEXEC` (the process
/// id that re-executed, so it happens at most once), `TINYDIFF_BLAS_CORE` (the set tinydiff
/// chose, so that an `OPENBLAS_CORETYPE` equal to it is known as tinydiff's own choice).
///
/// For tests, `TINYDIFF_BLAS_PRETEND_LOADED=<core>` (with `OPENBLAS_CORETYPE` unset) makes the
/// choice act as if the library had loaded `<core>`, so that the self-check child, the fallbacks
/// and the re-execution run on a machine whose CPU the library recognises.
///
/// Usage (the first line of main; `run_program` in tensor/program.h does it):
/// \code
///   tinydiff::prepare_process(argv);
///   fmt::print("{}\n", tinydiff::compute_summary());   // "OpenBLAS SkylakeX kernels (chosen by tinydiff ...), 2
///   threads, ..."
/// \endcode
#pragma once

#include <string>

namespace tinydiff {

/// Call first in main: may re-execute the program once (see the file comment). When the
/// environment has `TINYDIFF_BLAS_PROBE=<core>`, this process is the self-check child: it runs
/// `check_gemm` and exits (0: passed, 1: wrong products, 3: the library did not load `<core>`).
void prepare_process(char** argv);

/// How the process computes, for banners and `tinydiff info --system`.
struct ComputeEnvironment {
  std::string blas_core;  ///< the kernel set OpenBLAS runs, e.g. "SkylakeX"
  std::string
      blas_source;  ///< why: "chosen by tinydiff for this CPU", "OPENBLAS_CORETYPE set by you", "OpenBLAS's own choice"
  std::string blas_config;  ///< `openblas_get_config()`
  std::string best_core;    ///< the best set for this CPU (tensor/blas_core.h), "" when unknown
  int threads = 1;          ///< OpenMP threads (`omp_get_max_threads()`)
  std::string wait_policy;  ///< `OMP_WAIT_POLICY` ("" when unset)
  bool reexecuted = false;  ///< whether prepare_process re-executed this process
};

/// The facts above, read now.
ComputeEnvironment compute_environment();

/// One line for banners: "OpenBLAS SkylakeX kernels (chosen by tinydiff for this CPU), 2 threads,
/// OMP_WAIT_POLICY=passive".
std::string compute_summary();

/// Where tinydiff caches things: `$XDG_CACHE_HOME/tinydiff`, else `$HOME/.cache/tinydiff`, else
/// `.tinydiff-cache` in the current folder. Not created here.
std::string cache_folder();

}  // namespace tinydiff
