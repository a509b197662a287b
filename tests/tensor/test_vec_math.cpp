// Tests of vexp / vsigmoid (tensor/vec_math.h), the vectorisable exponential behind SiLU,
// sigmoid, GroupNorm+SiLU and the attention softmax: relative error against std::exp in double
// (the exact value rounded once) over a dense sample of all finite floats, the subnormal and
// overflow ends, and special values.
#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "tensor/vec_math.h"

using namespace tinydiff;

TEST_CASE("vexp is within 2 ulp of exp over the normal range", "[tensor][vec_math]") {
  // Every 4099th float bit pattern (about a million values, both signs, every exponent).
  // Tolerance: 2 ulp = 2 * 2^-23 relative (the measured worst case is 1.4 ulp).
  double worst = 0.0;
  float worst_x = 0.0f;
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 4099) {
    const auto bits = static_cast<uint32_t>(b);
    float x;
    std::memcpy(&x, &bits, sizeof x);
    if (!std::isfinite(x)) continue;
    const double ref = std::exp(static_cast<double>(x));
    if (ref < FLT_MIN || ref > FLT_MAX) continue;
    const double rel = std::abs(static_cast<double>(vexp(x)) - ref) / ref;
    if (rel > worst) {
      worst = rel;
      worst_x = x;
    }
  }
  INFO("worst x = " << worst_x);
  CHECK(worst <= 2.0 * std::ldexp(1.0, -23));
}

TEST_CASE("vexp at the ends of the range and on special values", "[tensor][vec_math]") {
  // Subnormal results: within one subnormal step (1.4e-45) of the correctly rounded value.
  for (float x = -103.9f; x < -87.3f; x += 0.37f) {
    INFO("x = " << x);
    CHECK(std::abs(static_cast<double>(vexp(x)) - std::exp(static_cast<double>(x))) <= 1.5e-45);
  }
  CHECK(vexp(-104.5f) == 0.0f);
  CHECK(vexp(-1000.0f) == 0.0f);
  CHECK(vexp(-std::numeric_limits<float>::infinity()) == 0.0f);
  // ln(FLT_MAX) = 88.7228391...: just below it the result is finite and accurate, above it +inf.
  CHECK(std::isfinite(vexp(88.72283f)));
  CHECK(vexp(88.72283f) == Approx(std::exp(static_cast<double>(88.72283f))).epsilon(3e-7));
  CHECK(std::isinf(vexp(88.72284f)));
  CHECK(std::isinf(vexp(1000.0f)));
  CHECK(std::isinf(vexp(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(vexp(std::numeric_limits<float>::quiet_NaN())));
  CHECK(vexp(0.0f) == 1.0f);
  CHECK(vexp(-0.0f) == 1.0f);
  // float64 is std::exp exactly.
  CHECK(vexp(0.7) == std::exp(0.7));
}

TEST_CASE("vsigmoid matches 1 / (1 + exp(-x)) without overflow", "[tensor][vec_math]") {
  // Relative error <= 4 ulp (exp, one division, one product) over [-100, 100]; exact limits.
  for (float x = -100.0f; x <= 100.0f; x += 0.0731f) {
    const double ref = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    INFO("x = " << x);
    CHECK(std::abs(vsigmoid(x) - ref) <= 4.0 * std::ldexp(1.0, -24) * ref + 1e-45);
  }
  CHECK(vsigmoid(200.0f) == 1.0f);
  CHECK(vsigmoid(-200.0f) == 0.0f);
  CHECK(std::isnan(vsigmoid(std::numeric_limits<float>::quiet_NaN())));
  CHECK(vsigmoid(-3.0) == Approx(1.0 / (1.0 + std::exp(3.0))).epsilon(1e-15));
  CHECK(vselect(true, 1.5f, -2.0f) == 1.5f);
  CHECK(vselect(false, 1.5f, -2.0f) == -2.0f);
}
