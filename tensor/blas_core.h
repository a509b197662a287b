/// \file
/// \brief Which OpenBLAS kernel set ("core") to run on this CPU, and a self-check of the GEMMs
/// that the chosen set computes.
///
/// Debian 12's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) carries kernels for many CPU
/// generations and picks one set when it is loaded, from the CPU's family and model numbers.
/// A CPU newer than the library is not in its tables, and the library then falls back to its
/// oldest kernels (Prescott, SSE3) — measured on an Intel Xeon with AVX-512 and AVX512-BF16:
/// sgemm at 38 GFLOP/s instead of 294 with the SkylakeX kernels, and a training step of the
/// tiny config 3.1x slower (1,869 ms against 596 ms). The instruction sets the CPU reports
/// (tensor/cpu_features.h) say which kernels it can run whatever its model number, so
/// `choose_blas_core` compares the two and names the set to use. The environment variable
/// `OPENBLAS_CORETYPE` selects a set when the library is loaded; a user's own value is
/// respected (some machines set `Haswell` on purpose), with a warning when it is older than
/// the CPU supports.
///
/// A chosen set is trusted only after `check_gemm` has compared its products with a naive one
/// (tensor/process_env.h runs it in a child process, so that a kernel set that executes an
/// illegal instruction cannot take the program down, and remembers the verdict).
///
/// The kernel sets, oldest first, with what they need (levels used to compare them):
///
/// | level | OpenBLAS cores | needs |
/// |---|---|---|
/// | 1 | Prescott, Opteron_SSE3, Barcelona | SSE3 |
/// | 2 | Core2, Penryn, Dunnington, Atom, Nano | SSSE3 |
/// | 3 | Nehalem | SSE4.2 |
/// | 4 | Sandybridge, Bulldozer, Piledriver, Steamroller | AVX |
/// | 5 | Haswell, Zen, Excavator | AVX2 + FMA |
/// | 6 | SkylakeX | AVX-512 F/CD/BW/DQ/VL |
/// | 7 | Cooperlake | the same + AVX512_BF16 |
///
/// Usage:
/// \code
///   const BlasChoice c = choose_blas_core(detect_cpu_features(), openblas_core_name(),
///   std::getenv("OPENBLAS_CORETYPE")); if (c.action == BlasChoice::Action::kSet) setenv("OPENBLAS_CORETYPE",
///   c.candidates[0].c_str(), 1);
/// \endcode
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tensor/cpu_features.h"

namespace tinydiff {

/// The level of an OpenBLAS core name in the table above (case-insensitive); 0 when unknown.
int blas_core_level(std::string_view core);

/// The best OpenBLAS 0.3.21 kernel set for `cpu`: "Cooperlake", "SkylakeX", "Zen" (AMD family
/// 0x17 and later with AVX2) or "Haswell", "Sandybridge", "Nehalem", "Core2", "Prescott";
/// "" when the CPU reports none of their instruction sets.
std::string best_blas_core(const CpuFeatures& cpu);

/// What to do about the kernel set.
struct BlasChoice {
  /// The three outcomes.
  enum class Action {
    kKeep,  ///< the loaded set is right (or nothing better is known): change nothing
    kSet,   ///< set OPENBLAS_CORETYPE to the first candidate that passes the self-check
    kWarn,  ///< the user's OPENBLAS_CORETYPE is respected, but `message` says what it costs
  };
  Action action = Action::kKeep;        ///< what to do
  std::vector<std::string> candidates;  ///< kSet: the sets to try, best first, ending with the loaded one
  std::string message;                  ///< kWarn: the one-line warning; kSet/kKeep: why, for reports
};

/// Decides from the CPU's features, the set the library loaded (`openblas_get_corename()`) and
/// the user's `OPENBLAS_CORETYPE` (nullptr or "" when unset). A pure function.
///  - unset, and the loaded set is older than `best_blas_core(cpu)`: kSet, candidates from the best
///    down through every older set the CPU family uses, ending with the loaded set;
///  - set to a known set older than the best: kWarn (what it costs, how to change it);
///  - set to a name the library did not load (it ignores unknown names): kWarn naming both;
///  - otherwise kKeep.
BlasChoice choose_blas_core(const CpuFeatures& cpu, std::string_view loaded_core, const char* user_coretype);

/// C = alpha op(A) op(B) + beta C, row-major, as `cblas_sgemm` takes it (op = transpose when `trans_*`).
using SgemmFunction = void (*)(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                               const float* b, int ldb, float beta, float* c, int ldc);
/// The double-precision twin of `SgemmFunction`.
using DgemmFunction = void (*)(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda,
                               const double* b, int ldb, double beta, double* c, int ldc);

/// The library's sgemm (OpenBLAS through CBLAS), in the form `check_gemm` takes.
void openblas_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc);
/// The library's dgemm (OpenBLAS through CBLAS), in the form `check_gemm` takes.
void openblas_dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda,
                    const double* b, int ldb, double beta, double* c, int ldc);

/// The naive product, in long double, that `check_gemm` compares with: for every (i, j),
/// \f$ C_{ij} \leftarrow \alpha \sum_p \mathrm{op}(A)_{ip}\,\mathrm{op}(B)_{pj} + \beta C_{ij} \f$.
template <typename T>
void gemm_naive(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
                T beta, T* c, int ldc);

/// Runs `sgemm` and `dgemm` on a handful of shapes — every combination of transposes, odd sizes
/// (1x1x1, 7x5x3, 33x17x65), and 300x70x520, which crosses OpenBLAS's blocking in k and m — with
/// alpha 1.5, beta 0.5 and C not zero, and compares each entry with `gemm_naive`:
/// \f$ |C_{ij} - C^{ref}_{ij}| \le 8k\,u \,(|\alpha| \sum_p |A_{ip}||B_{pj}| + |\beta||C_{ij}|) \f$
/// with u the unit roundoff (2^-24, 2^-53). Returns "" when all agree, else one line naming the
/// first product that did not (precision, transposes, shape, entry, values). About 0.1 s.
std::string check_gemm(SgemmFunction sgemm = openblas_sgemm, DgemmFunction dgemm = openblas_dgemm);

/// `openblas_get_corename()`, e.g. "Haswell" (what the library loaded).
std::string openblas_core_name();
/// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY USE_OPENMP Cooperlake
/// MAX_THREADS=64".
std::string openblas_config();

}  // namespace tinydiff
