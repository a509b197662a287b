// Choosing OpenBLAS kernels (a pure function over a table of CPUs) and the GEMM self-check,
// shown to fail on deliberately wrong products.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tensor/blas_core.h"
#include "tensor/cpu_features.h"

using namespace tinydiff;

namespace {

CpuFeatures intel(int level) {
  CpuFeatures c;
  c.vendor = "GenuineIntel";
  c.family = 6;
  c.model = 0x8F;
  c.sse3 = level >= 1;
  c.ssse3 = level >= 2;
  c.sse4_2 = level >= 3;
  c.avx = level >= 4;
  c.avx2 = c.fma = level >= 5;
  c.avx512f = c.avx512dq = c.avx512cd = c.avx512bw = c.avx512vl = level >= 6;
  c.avx512_bf16 = level >= 7;
  return c;
}

CpuFeatures amd(int family, int level) {
  CpuFeatures c = intel(level);
  c.vendor = "AuthenticAMD";
  c.family = family;
  return c;
}

using Action = BlasChoice::Action;

}  // namespace

TEST_CASE("best_blas_core follows the instruction sets, not the model number", "[blas]") {
  CHECK(best_blas_core(intel(7)) == "Cooperlake");
  CHECK(best_blas_core(intel(6)) == "SkylakeX");
  CHECK(best_blas_core(intel(5)) == "Haswell");
  CHECK(best_blas_core(intel(4)) == "Sandybridge");
  CHECK(best_blas_core(intel(3)) == "Nehalem");
  CHECK(best_blas_core(intel(2)) == "Core2");
  CHECK(best_blas_core(intel(1)) == "Prescott");
  CHECK(best_blas_core(CpuFeatures{}).empty());
  CHECK(best_blas_core(amd(0x17, 5)) == "Zen");         // Zen 1/2
  CHECK(best_blas_core(amd(0x19, 7)) == "Cooperlake");  // Zen 4: AVX-512 with BF16
  CHECK(best_blas_core(amd(0x1A, 7)) == "Cooperlake");  // Zen 5
  CHECK(best_blas_core(amd(0x15, 5)) == "Haswell");     // Excavator family: not Zen
  CpuFeatures partial = intel(6);
  partial.avx512vl = false;  // AVX-512 F without VL: the SkylakeX kernels need VL
  CHECK(best_blas_core(partial) == "Haswell");
}

TEST_CASE("blas_core_level ranks the kernel sets and ignores case", "[blas]") {
  CHECK(blas_core_level("Prescott") == 1);
  CHECK(blas_core_level("HASWELL") == 5);
  CHECK(blas_core_level("zen") == 5);
  CHECK(blas_core_level("SkylakeX") == 6);
  CHECK(blas_core_level("Cooperlake") == 7);
  CHECK(blas_core_level("SapphireRapids") == 0);
  CHECK(blas_core_level("") == 0);
}

TEST_CASE("choose_blas_core over a table of machines", "[blas]") {
  struct Case {
    const char* what;
    CpuFeatures cpu;
    const char* loaded;
    const char* user;  // OPENBLAS_CORETYPE, nullptr when unset
    Action action;
    std::vector<std::string> candidates;
  };
  const std::vector<Case> cases = {
      {"new Xeon the library does not know",
       intel(7),
       "Prescott",
       nullptr,
       Action::kSet,
       {"Cooperlake", "SkylakeX", "Haswell", "Sandybridge", "Nehalem", "Core2", "Prescott"}},
      {"AVX-512 Xeon on Haswell kernels", intel(6), "Haswell", nullptr, Action::kSet, {"SkylakeX", "Haswell"}},
      {"AVX-512 with BF16 on SkylakeX kernels",
       intel(7),
       "SkylakeX",
       nullptr,
       Action::kSet,
       {"Cooperlake", "SkylakeX"}},
      {"recognised: nothing to do", intel(7), "Cooperlake", nullptr, Action::kKeep, {}},
      {"an AVX2 laptop", intel(5), "Haswell", nullptr, Action::kKeep, {}},
      {"Zen 3 on Prescott",
       amd(0x19, 5),
       "Prescott",
       nullptr,
       Action::kSet,
       {"Zen", "Sandybridge", "Nehalem", "Core2", "Prescott"}},
      {"Zen 5 on Zen kernels", amd(0x1A, 7), "Zen", nullptr, Action::kSet, {"Cooperlake", "SkylakeX", "Zen"}},
      {"loaded set newer than the CPU reports (a VM hiding flags)", intel(5), "SkylakeX", nullptr, Action::kKeep, {}},
      {"unknown loaded name", intel(7), "Zen5", nullptr, Action::kKeep, {}},
      {"CPU reports nothing", CpuFeatures{}, "Prescott", nullptr, Action::kKeep, {}},
      {"user's Haswell on an AVX-512 CPU", intel(7), "Haswell", "Haswell", Action::kWarn, {}},
      {"user's choice, lower case, equal to the best", intel(6), "SkylakeX", "skylakex", Action::kKeep, {}},
      {"user's name the library ignored", intel(7), "Cooperlake", "Bogus", Action::kWarn, {}},
      {"user's empty value counts as unset", intel(6), "Haswell", "", Action::kSet, {"SkylakeX", "Haswell"}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const BlasChoice choice = choose_blas_core(c.cpu, c.loaded, c.user);
    CHECK(choice.action == c.action);
    CHECK(choice.candidates == c.candidates);
    if (c.action == Action::kWarn) {
      CHECK(choice.message.find("OPENBLAS_CORETYPE=") != std::string::npos);
      CHECK(choice.message.find('\n') == std::string::npos);
    }
  }
  // The warning says what it costs and how to change it.
  const BlasChoice w = choose_blas_core(intel(7), "Haswell", "Haswell");
  CHECK(w.message.find("unset OPENBLAS_CORETYPE") != std::string::npos);
  CHECK(w.message.find("Cooperlake") != std::string::npos);
}

namespace {

// Wrong on purpose: drops the last term of every dot product when k > 1.
void sgemm_drops_last_term(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                           int ldb, float beta, float* c, int ldc) {
  gemm_naive<float>(ta, tb, m, n, k > 1 ? k - 1 : k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Wrong on purpose: ignores the transpose of B.
void dgemm_ignores_trans_b(bool ta, bool, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                           int ldb, double beta, double* c, int ldc) {
  gemm_naive<double>(ta, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Wrong on purpose: one entry of the largest product off by 1 (about 13% of its size), as a
// kernel that mishandles the last row and column of a block would be.
void sgemm_one_bad_entry(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                         int ldb, float beta, float* c, int ldc) {
  openblas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (m > 100) c[(m - 1) * ldc + (n - 1)] += 1.0f;
}

}  // namespace

TEST_CASE("check_gemm passes the library's products and the naive ones", "[blas]") {
  CHECK(check_gemm() == "");
  CHECK(check_gemm(gemm_naive<float>, gemm_naive<double>) == "");
}

TEST_CASE("check_gemm fails on deliberately wrong products and names them", "[blas]") {
  const std::string dropped = check_gemm(sgemm_drops_last_term, openblas_dgemm);
  CHECK(dropped.rfind("sgemm NN 7x5x3", 0) == 0);
  const std::string ignored = check_gemm(openblas_sgemm, dgemm_ignores_trans_b);
  CHECK(ignored.rfind("dgemm NT", 0) == 0);
  const std::string edge = check_gemm(sgemm_one_bad_entry, openblas_dgemm);
  CHECK(edge.rfind("sgemm NN 300x70x520: C[299,69]", 0) == 0);
}

TEST_CASE("detect_cpu_features agrees with the compiler's view of this CPU", "[blas]") {
  const CpuFeatures cpu = detect_cpu_features();
  CHECK_FALSE(cpu.vendor.empty());
  CHECK(cpu.avx2 == static_cast<bool>(__builtin_cpu_supports("avx2")));
  CHECK(cpu.avx512f == static_cast<bool>(__builtin_cpu_supports("avx512f")));
  CHECK(cpu.sse4_2 == static_cast<bool>(__builtin_cpu_supports("sse4.2")));
  CHECK(cpu_feature_list(cpu).find("sse3") == 0);
}
