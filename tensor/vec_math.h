/// \file
/// \brief Exponential, sigmoid and horizontal sums/maxima written so that GCC vectorises the loops that call them.
///
/// `std::exp` on float is a call into libm that the compiler cannot vectorise without
/// `-ffast-math` (which tinydiff never uses). `vexp` computes \f$e^x\f$ with only
/// multiplications, additions and bit operations, so loops over it run 8 lanes wide (AVX2):
///
/// 1. range reduction: \f$x = n \ln 2 + r\f$ with \f$n = \mathrm{round}(x / \ln 2)\f$ and
///    \f$|r| \le \ln 2 / 2\f$ (Cody & Waite: \f$\ln 2\f$ split in two parts so that
///    \f$n \ln 2\f$ is exact in float);
/// 2. \f$e^r \approx 1 + r + r^2 P(r)\f$ with the degree-5 minimax polynomial of Cephes' `expf`
///    (S. Moshier); relative error about 1 ulp;
/// 3. \f$2^n\f$ built from its IEEE bits.
///
/// Subnormal results are rounded correctly, \f$x < -104\f$ gives 0, results above float's largest
/// are \f$+\infty\f$, NaN stays NaN. The selects are done on the bits (`vselect`) so that GCC does not
/// turn them into branches (with the default `-ftrapping-math` it would, and not vectorise). The float64 overloads call
/// `std::exp` (float64 is the gradient-checking dtype: accuracy first). The tests compare `vexp` with `std::exp` over
/// the whole float range (tests/tensor/test_vec_math.cpp).
///
/// `lane_sum` and `lane_max` are the horizontal reductions of the row kernels (norms, softmax,
/// attention, the convolution's bias gradient): n terms folded into 8 interleaved partial results
/// ("lanes"), term j into lane \f$j \bmod 8\f$, the lanes combined in a fixed order at the end.
/// The lanes are independent, so GCC vectorises the loop without reassociating anything (no
/// `-ffast-math`), and the result depends only on n, never on the thread count. `lane_sum`
/// accumulates in double.
///
/// Usage:
/// \code
///   for (int64_t i = 0; i < n; ++i) y[i] = x[i] * vsigmoid(x[i]);   // SiLU, vectorised
///   const double s = lane_sum(n, [&](int64_t j) { return static_cast<double>(x[j]); });
///   const float m = lane_max(n, [&](int64_t j) { return x[j]; });
/// \endcode
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace tinydiff {

/// `c ? a : b` on the bits (GCC keeps such selects branch-free; a `?:` on floats whose operands
/// are computed can be turned into branches, which stops vectorisation).
inline float vselect(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & m) | (std::bit_cast<uint32_t>(b) & ~m));
}

/// `c ? a : b` for double (plain select).
inline double vselect(bool c, double a, double b) { return c ? a : b; }

/// \f$e^x\f$ for float, vectorisable (see the file overview); about 1.5 ulp.
inline float vexp(float x) {
  // n = round(x / ln 2) by adding 1.5 * 2^23 (round to nearest in the default mode); the low
  // bits of the sum are then n itself (two's complement), so no float-to-int conversion is needed.
  const float shifter = 12582912.0f;
  const float nb = x * 1.44269504088896341f + shifter;
  const float n = nb - shifter;
  const uint32_t ni = std::bit_cast<uint32_t>(nb) - std::bit_cast<uint32_t>(shifter);
  float r = x - n * 0.693359375f;  // ln 2 = 0.693359375 - 2.12194440e-4 (Cody-Waite)
  r = r + n * 2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  // 2^n = 2^h 2^(n-h) with h = floor(n / 2): both factors are normal floats for n in [-150, 128],
  // so subnormal results and overflow to infinity come out of the last product correctly rounded.
  const uint32_t h = static_cast<uint32_t>(static_cast<int32_t>(ni) >> 1);
  const float y = p * std::bit_cast<float>((h + 127u) << 23) * std::bit_cast<float>((ni - h + 127u) << 23);
  // Outside [-104, ln(FLT_MAX)] the bits above are garbage: e^x rounds to 0 below, is +inf above.
  const uint32_t under = 0u - static_cast<uint32_t>(x < -104.0f);
  const uint32_t over = 0u - static_cast<uint32_t>(x > 88.72284f);
  const uint32_t nan = 0u - static_cast<uint32_t>(x != x);
  uint32_t bits = std::bit_cast<uint32_t>(y) & ~under;
  bits = (bits & ~over) | (0x7f800000u & over);
  bits = (bits & ~nan) | (std::bit_cast<uint32_t>(x) & nan);  // NaN in, NaN out
  return std::bit_cast<float>(bits);
}

/// \f$e^x\f$ for double: `std::exp`.
inline double vexp(double x) { return std::exp(x); }

/// \f$\sigma(x) = 1 / (1 + e^{-x})\f$ without overflow: with \f$e = e^{-|x|} \le 1\f$,
/// \f$\sigma(x) = 1/(1+e)\f$ for \f$x \ge 0\f$ and \f$e/(1+e)\f$ for \f$x < 0\f$. Vectorisable for float.
template <typename T>
inline T vsigmoid(T x) {
  const T e = vexp(-std::abs(x));
  const T r = T(1) / (T(1) + e);
  return vselect(x >= T(0), r, e * r);
}

/// \f$\sum_{j=0}^{n-1} \mathrm{term}(j)\f$ in double, in 8 lanes (term j into lane j mod 8)
/// combined as \f$((a_0 + a_4) + (a_1 + a_5)) + ((a_2 + a_6) + (a_3 + a_7))\f$: vectorisable, and
/// the same for a given n on any number of threads. `term` returns double.
template <typename F>
inline double lane_sum(int64_t n, F term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += term(j + k);
  for (; j < n; ++j) acc[j % 8] += term(j);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/// \f$\max_j \mathrm{term}(j)\f$ over j = 0..n-1 in 8 lanes (`std::max`, so a NaN term is skipped);
/// \f$-\infty\f$ when n = 0. `term` returns float or double; the maximum is exact, so the
/// lanes change nothing but the speed.
template <typename F>
inline auto lane_max(int64_t n, F term) -> decltype(term(int64_t{0})) {
  using T = decltype(term(int64_t{0}));
  T mx[8];
  for (int k = 0; k < 8; ++k) mx[k] = -std::numeric_limits<T>::infinity();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) mx[k] = std::max(mx[k], term(j + k));
  for (; j < n; ++j) mx[j % 8] = std::max(mx[j % 8], term(j));
  T m = mx[0];
  for (int k = 1; k < 8; ++k) m = std::max(m, mx[k]);
  return m;
}

}  // namespace tinydiff
