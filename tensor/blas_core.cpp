// Choosing OpenBLAS kernels and checking their GEMMs (tensor/blas_core.h).
#include "tensor/blas_core.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>

extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace tinydiff {

namespace {

struct CoreLevel {
  const char* name;
  int level;
};

// The x86-64 kernel sets of OpenBLAS 0.3.21's DYNAMIC_ARCH build and what they need (header table).
constexpr CoreLevel kCores[] = {
    {"Prescott", 1},    {"Opteron_SSE3", 1}, {"Barcelona", 1}, {"Core2", 2},       {"Penryn", 2},    {"Dunnington", 2},
    {"Atom", 2},        {"Nano", 2},         {"Nehalem", 3},   {"Sandybridge", 4}, {"Bulldozer", 4}, {"Piledriver", 4},
    {"Steamroller", 4}, {"Haswell", 5},      {"Zen", 5},       {"Excavator", 5},   {"SkylakeX", 6},  {"Cooperlake", 7},
};

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_amd_zen(const CpuFeatures& cpu) { return cpu.vendor == "AuthenticAMD" && cpu.family >= 0x17; }

// What a set's instructions are called, for messages.
const char* level_instructions(int level) {
  switch (level) {
    case 7:
      return "AVX-512 with BF16";
    case 6:
      return "AVX-512";
    case 5:
      return "AVX2";
    case 4:
      return "AVX";
    case 3:
      return "SSE4.2";
    case 2:
      return "SSSE3";
    default:
      return "SSE3";
  }
}

}  // namespace

int blas_core_level(std::string_view core) {
  for (const CoreLevel& c : kCores)
    if (same_name(core, c.name)) return c.level;
  return 0;
}

std::string best_blas_core(const CpuFeatures& cpu) {
  if (cpu.avx512_skylake()) return cpu.avx512_bf16 ? "Cooperlake" : "SkylakeX";
  if (cpu.avx2 && cpu.fma) return is_amd_zen(cpu) ? "Zen" : "Haswell";
  if (cpu.avx) return "Sandybridge";
  if (cpu.sse4_2) return "Nehalem";
  if (cpu.ssse3) return "Core2";
  if (cpu.sse3) return "Prescott";
  return "";
}

BlasChoice choose_blas_core(const CpuFeatures& cpu, std::string_view loaded_core, const char* user_coretype) {
  BlasChoice choice;
  const std::string best = best_blas_core(cpu);
  const int best_level = blas_core_level(best);
  const int loaded_level = blas_core_level(loaded_core);
  const std::string_view user = user_coretype == nullptr ? std::string_view() : std::string_view(user_coretype);

  if (!user.empty()) {
    if (!same_name(user, loaded_core)) {
      choice.action = BlasChoice::Action::kWarn;
      choice.message = fmt::format(
          "OPENBLAS_CORETYPE={} names no kernel set this OpenBLAS knows, so it runs its own choice, {}; unset it{}",
          user, loaded_core, best.empty() ? "" : fmt::format(" (or set it to {}, the best for this CPU)", best));
    } else if (loaded_level > 0 && loaded_level < best_level) {
      choice.action = BlasChoice::Action::kWarn;
      choice.message = fmt::format(
          "OPENBLAS_CORETYPE={} keeps OpenBLAS on {} kernels, but this CPU has {} ({} kernels): matrix products run "
          "at a fraction of their speed and training takes about 1.2-3x longer; unset OPENBLAS_CORETYPE to let "
          "tinydiff choose and check the kernels, or set it to {}",
          user, level_instructions(loaded_level), level_instructions(best_level), best, best);
    } else {
      choice.message = fmt::format("OPENBLAS_CORETYPE={} (set in the environment)", user);
    }
    return choice;
  }
  if (best.empty() || loaded_level == 0 || loaded_level >= best_level) {
    choice.message = loaded_level == 0
                         ? fmt::format("OpenBLAS's own choice ({} is not in tinydiff's table)", loaded_core)
                         : "OpenBLAS's own choice";
    return choice;
  }
  // The fallback chain below the best set, in the CPU family's line, down to the loaded set.
  const std::vector<std::string> chain =
      is_amd_zen(cpu)
          ? std::vector<std::string>{"Cooperlake", "SkylakeX", "Zen", "Sandybridge", "Nehalem", "Core2", "Prescott"}
          : std::vector<std::string>{"Cooperlake", "SkylakeX", "Haswell", "Sandybridge",
                                     "Nehalem",    "Core2",    "Prescott"};
  choice.action = BlasChoice::Action::kSet;
  for (const std::string& core : chain) {
    const int level = blas_core_level(core);
    if (level <= best_level && level > loaded_level) choice.candidates.push_back(core);
  }
  choice.candidates.emplace_back(loaded_core);
  choice.message = fmt::format("OpenBLAS loaded its {} kernels, older than this CPU supports ({}): {} instead",
                               loaded_core, level_instructions(best_level), best);
  return choice;
}

void openblas_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

void openblas_dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda,
                    const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
void gemm_naive(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
                T beta, T* c, int ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      long double acc = 0.0L;
      for (int p = 0; p < k; ++p) {
        const T av = trans_a ? a[p * lda + i] : a[i * lda + p];  // op(A)_ip
        const T bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];  // op(B)_pj
        acc += static_cast<long double>(av) * bv;
      }
      c[i * ldc + j] = static_cast<T>(alpha * acc + static_cast<long double>(beta) * c[i * ldc + j]);
    }
}

template void gemm_naive<float>(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*,
                                int);
template void gemm_naive<double>(bool, bool, int, int, int, double, const double*, int, const double*, int, double,
                                 double*, int);

namespace {

// Deterministic values in [-1, 1) (a 64-bit LCG), so the check needs no random-number state.
template <typename T>
std::vector<T> filled(size_t count, uint64_t seed) {
  std::vector<T> v(count);
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (T& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<T>(static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return v;
}

// One product of `gemm` against gemm_naive; "" or what differed.
template <typename T, typename Gemm>
std::string check_one(Gemm gemm, const char* precision, bool ta, bool tb, int m, int n, int k, uint64_t seed) {
  const T alpha = static_cast<T>(1.5), beta = static_cast<T>(0.5);
  const int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  const std::vector<T> a = filled<T>(static_cast<size_t>(m) * k, seed);
  const std::vector<T> b = filled<T>(static_cast<size_t>(k) * n, seed + 1);
  const std::vector<T> c0 = filled<T>(static_cast<size_t>(m) * n, seed + 2);
  std::vector<T> c = c0, ref = c0;
  gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  gemm_naive<T>(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, ref.data(), ldc);
  const double u = std::numeric_limits<T>::epsilon() / 2.0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double mag = std::abs(static_cast<double>(beta) * c0[i * ldc + j]);
      for (int p = 0; p < k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        mag += std::abs(static_cast<double>(alpha) * av * bv);
      }
      const double got = c[i * ldc + j], want = ref[i * ldc + j];
      if (!(std::abs(got - want) <= 8.0 * k * u * mag + 1e-30))
        return fmt::format("{} {}{} {}x{}x{}: C[{},{}] = {} where the naive product gives {}", precision,
                           ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, i, j, got, want);
    }
  return "";
}

}  // namespace

std::string check_gemm(SgemmFunction sgemm, DgemmFunction dgemm) {
  struct Shape {
    int m, n, k;
  };
  constexpr Shape kShapes[] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {300, 70, 520}};
  uint64_t seed = 1;
  for (const Shape& s : kShapes)
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      std::string failure = check_one<float>(sgemm, "sgemm", ta, tb, s.m, s.n, s.k, seed++);
      if (failure.empty()) failure = check_one<double>(dgemm, "dgemm", ta, tb, s.m, s.n, s.k, seed++);
      if (!failure.empty()) return failure;
    }
  return "";
}

std::string openblas_core_name() {
  const char* name = openblas_get_corename();
  return name == nullptr ? std::string() : std::string(name);
}

std::string openblas_config() {
  const char* config = openblas_get_config();
  std::string s = config == nullptr ? std::string() : std::string(config);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

}  // namespace tinydiff
