// Guards against a wrong-code bug of GCC 12.2 with AVX-512 (-march=native on this machine):
// 256-bit constants whose leading non-zero elements are equal came out broadcast, so
// {1, 1, 0, 0} became {1, 1, 1, 1}. cmake/TinydiffWarnings.cmake disables AVX-512 code
// generation for GCC < 13; these checks fail if that workaround is lost.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

using namespace tinydiff;

namespace {
// Out of line, as in the original reproduction: the constant is built at the call site.
[[gnu::noinline]] std::vector<double> doubles(std::initializer_list<double> v) { return v; }
[[gnu::noinline]] std::vector<int64_t> int64s(std::initializer_list<int64_t> v) { return v; }
}  // namespace

TEST_CASE("short constants with trailing zeros keep their values", "[tensor][compiler]") {
  CHECK(doubles({1, 1, 0, 0}) == std::vector<double>{1, 0 + 1, 0, 0});
  CHECK(doubles({1, 1, 0, 0})[2] == 0.0);
  CHECK(int64s({3, 3, 0, 0})[3] == 0);
  CHECK(Tensor::from_vector({1, 1, 0, 0}, {4}, DType::F64).to_vector()[3] == 0.0);
  CHECK(Tensor::from_indices({3, 3, 0, 0}, {4}).at({2}) == 0.0);
}
