// Helpers shared by the tensor tests: reproducible random tensors made independently of the
// library's own Generator (std::mt19937), so a bug in the generator cannot hide a kernel bug.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff::test {

/// The floating dtypes every kernel is instantiated for.
inline const DType kFloatTypes[] = {DType::F32, DType::F64};

/// Standard normal values, reproducible from `seed`.
inline Tensor randn(const Shape& shape, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist;
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (double& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape, dtype);
}

/// Uniform values in [lo, hi), reproducible from `seed`.
inline Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (double& x : v) x = u(gen);
  return Tensor::from_vector(v, shape, dtype);
}

/// max |a - b| of two tensors of the same shape, computed with plain loops (no library kernels).
inline double max_abs_diff_of(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double m = 0.0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

}  // namespace tinydiff::test
