// CPUID and XGETBV (tensor/cpu_features.h).
#include "tensor/cpu_features.h"

#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TINYDIFF_X86 1
#endif

namespace tinydiff {

namespace {

#ifdef TINYDIFF_X86
// The OS-enabled register states (XCR0). Only valid when CPUID.1:ECX.OSXSAVE is set.
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures cpu;
#ifdef TINYDIFF_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0) return cpu;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor + 0, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  cpu.vendor = vendor;

  __get_cpuid(1, &a, &b, &c, &d);
  const int base_family = static_cast<int>((a >> 8) & 0xF);
  const int base_model = static_cast<int>((a >> 4) & 0xF);
  cpu.family = base_family == 0xF ? base_family + static_cast<int>((a >> 20) & 0xFF) : base_family;
  cpu.model =
      (base_family == 0x6 || base_family == 0xF) ? base_model + (static_cast<int>((a >> 16) & 0xF) << 4) : base_model;
  cpu.sse3 = (c & (1u << 0)) != 0;
  cpu.ssse3 = (c & (1u << 9)) != 0;
  cpu.sse4_2 = (c & (1u << 20)) != 0;
  const bool fma = (c & (1u << 12)) != 0;
  const bool osxsave = (c & (1u << 27)) != 0;
  const bool avx_cpu = (c & (1u << 28)) != 0;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // plus opmask, ZMM_Hi256, Hi16_ZMM
  cpu.avx = avx_cpu && os_ymm;
  cpu.fma = fma && cpu.avx;

  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned max_sub = a;
    cpu.avx2 = cpu.avx && (b & (1u << 5)) != 0;
    if (os_zmm) {
      cpu.avx512f = (b & (1u << 16)) != 0;
      cpu.avx512dq = cpu.avx512f && (b & (1u << 17)) != 0;
      cpu.avx512cd = cpu.avx512f && (b & (1u << 28)) != 0;
      cpu.avx512bw = cpu.avx512f && (b & (1u << 30)) != 0;
      cpu.avx512vl = cpu.avx512f && (b & (1u << 31)) != 0;
      if (max_sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        cpu.avx512_bf16 = cpu.avx512f && (a & (1u << 5)) != 0;
      }
    }
  }

  __get_cpuid(0x80000000, &a, &b, &c, &d);
  if (a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __get_cpuid(0x80000002 + leaf, &a, &b, &c, &d);
      std::memcpy(brand + 16 * leaf + 0, &a, 4);
      std::memcpy(brand + 16 * leaf + 4, &b, 4);
      std::memcpy(brand + 16 * leaf + 8, &c, 4);
      std::memcpy(brand + 16 * leaf + 12, &d, 4);
    }
    std::string name = brand;
    const size_t first = name.find_first_not_of(' ');
    const size_t last = name.find_last_not_of(' ');
    cpu.model_name = first == std::string::npos ? "" : name.substr(first, last - first + 1);
  }
#endif
  return cpu;
}

std::string cpu_feature_list(const CpuFeatures& cpu) {
  const std::pair<bool, const char*> flags[] = {
      {cpu.sse3, "sse3"},         {cpu.ssse3, "ssse3"},       {cpu.sse4_2, "sse4_2"},
      {cpu.avx, "avx"},           {cpu.avx2, "avx2"},         {cpu.fma, "fma"},
      {cpu.avx512f, "avx512f"},   {cpu.avx512dq, "avx512dq"}, {cpu.avx512cd, "avx512cd"},
      {cpu.avx512bw, "avx512bw"}, {cpu.avx512vl, "avx512vl"}, {cpu.avx512_bf16, "avx512_bf16"},
  };
  std::string out;
  for (const auto& [on, name] : flags) {
    if (!on) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out;
}

}  // namespace tinydiff
