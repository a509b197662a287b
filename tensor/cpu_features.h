/// \file
/// \brief What this x86-64 CPU can run, read with the CPUID instruction: vendor, model name and
/// the vector instruction sets that decide which OpenBLAS kernels are fastest (tensor/blas_core.h).
///
/// CPUID says what the processor implements; XGETBV says which register states the operating
/// system saves on a context switch. AVX needs the YMM state and AVX-512 the opmask and ZMM
/// states as well, so a feature counts only when both agree (a kernel using registers the OS
/// does not save would corrupt other programs' values, or fault).
///
/// Usage:
/// \code
///   const CpuFeatures cpu = detect_cpu_features();
///   fmt::print("{} ({})\n", cpu.model_name, cpu_feature_list(cpu));   // "AMD EPYC (sse3 ... avx512_bf16)"
/// \endcode
#pragma once

#include <string>

namespace tinydiff {

/// The facts about the CPU that choosing BLAS kernels needs. Default-constructed: nothing known.
struct CpuFeatures {
  std::string vendor;        ///< "GenuineIntel", "AuthenticAMD", ... ("" when unknown)
  std::string model_name;    ///< the brand string, e.g. "Intel(R) Xeon(R) Platinum 8488C" ("" when unknown)
  int family = 0;            ///< display family (base + extended), e.g. 6 for Intel Core/Xeon, 25 for AMD Zen 3/4
  int model = 0;             ///< display model (base + extended << 4)
  bool sse3 = false;         ///< SSE3
  bool ssse3 = false;        ///< SSSE3
  bool sse4_2 = false;       ///< SSE4.2
  bool avx = false;          ///< AVX, with the OS saving YMM registers
  bool avx2 = false;         ///< AVX2 (and AVX usable)
  bool fma = false;          ///< FMA3
  bool avx512f = false;      ///< AVX-512 Foundation, with the OS saving ZMM and opmask registers
  bool avx512dq = false;     ///< AVX-512 DQ
  bool avx512cd = false;     ///< AVX-512 CD
  bool avx512bw = false;     ///< AVX-512 BW
  bool avx512vl = false;     ///< AVX-512 VL
  bool avx512_bf16 = false;  ///< AVX512_BF16 (bfloat16 dot products: Cooper Lake, Sapphire Rapids, AMD Zen 4 and later)

  /// AVX-512 F, CD, BW, DQ and VL together: what OpenBLAS's SkylakeX kernels need.
  bool avx512_skylake() const { return avx512f && avx512cd && avx512bw && avx512dq && avx512vl; }
};

/// Reads CPUID (and XGETBV) of the CPU this runs on. On a CPU without CPUID leaf 7 the AVX2 and
/// AVX-512 fields stay false.
CpuFeatures detect_cpu_features();

/// The instruction sets found, lower-case and space-separated in increasing order, e.g.
/// "sse3 ssse3 sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16".
std::string cpu_feature_list(const CpuFeatures& cpu);

}  // namespace tinydiff
