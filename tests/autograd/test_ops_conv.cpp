// Tests of the differentiable conv2d and upsample_nearest2d: float64 gradchecks (3x3 padding 1,
// stride 2 with padding 1, 1x1, no bias, non-contiguous input), gradients against the naive
// kernels, the bias gradient as a sum over (B, H, W), and a conv -> group_norm -> silu chain
// gradchecked end to end.
#include <catch2/catch.hpp>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed, double stddev = 1.0) {
  return Generator(seed).normal(shape, 0.0, stddev, DType::F64);
}

auto conv_fn(int64_t stride, int64_t padding) {
  return [stride, padding](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v[2], stride, padding); };
}

}  // namespace

// conv2d is bilinear in (x, w) and linear in b: central differences are exact up to rounding,
// so the default gradcheck tolerances (atol 1e-5, rtol 1e-3) have a wide margin.

TEST_CASE("conv2d gradcheck: 3x3 padding 1, stride 2, 1x1, no bias", "[autograd][conv]") {
  CHECK_GRADCHECK("conv2d 3x3 p1", conv_fn(1, 1),
                  {randn64({2, 2, 5, 5}, 1), randn64({3, 2, 3, 3}, 2), randn64({3}, 3)});
  CHECK_GRADCHECK("conv2d 3x3 s2 p1", conv_fn(2, 1),
                  {randn64({2, 2, 6, 5}, 4), randn64({3, 2, 3, 3}, 5), randn64({3}, 6)});
  CHECK_GRADCHECK("conv2d 1x1", conv_fn(1, 0), {randn64({2, 3, 4, 4}, 7), randn64({2, 3, 1, 1}, 8), randn64({2}, 9)});
  CHECK_GRADCHECK("conv2d 2x2 s2 p0", conv_fn(2, 0),
                  {randn64({1, 2, 4, 6}, 10), randn64({2, 2, 2, 2}, 11), randn64({2}, 12)});
  CHECK_GRADCHECK("conv2d no bias", [](const std::vector<Variable>& v) { return conv2d(v[0], v[1], Variable(), 1, 1); },
                  {randn64({1, 2, 4, 4}, 13), randn64({2, 2, 3, 3}, 14)});
  // A channels-last tensor permuted to (B, C, H, W): a non-contiguous input.
  CHECK_GRADCHECK("conv2d permuted input", conv_fn(1, 1),
                  {randn64({1, 4, 4, 2}, 15).permute({0, 3, 1, 2}), randn64({2, 2, 3, 3}, 16), randn64({2}, 17)});
}

TEST_CASE("conv2d gradients agree with the naive kernels, bias gradient sums over B, H, W", "[autograd][conv]") {
  Variable x(randn64({2, 3, 7, 6}, 20), true), w(randn64({4, 3, 3, 3}, 21), true), b(randn64({4}, 22), true);
  Variable y = conv2d(x, w, b, 2, 1);
  REQUIRE(y.shape() == (Shape{2, 4, 4, 3}));
  CHECK(max_abs_diff(y.value(), conv2d_naive(x.value(), w.value(), b.value(), 2, 1)) < 1e-12);
  const Tensor g = randn64(y.shape(), 23);
  y.backward(g);
  CHECK(max_abs_diff(x.grad(), conv2d_backward_input_naive(g, w.value(), x.shape(), 2, 1)) < 1e-12);
  CHECK(max_abs_diff(w.grad(), conv2d_backward_weight_naive(g, x.value(), w.shape(), 2, 1)) < 1e-12);
  for (int64_t o = 0; o < 4; ++o) {
    double s = 0;
    for (int64_t bi = 0; bi < 2; ++bi)
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 3; ++j) s += g.at({bi, o, i, j});
    CHECK(b.grad().at({o}) == Approx(s).epsilon(1e-12));
  }
}

TEST_CASE("conv2d computes only the gradients that are needed", "[autograd][conv]") {
  Variable x(randn64({1, 2, 4, 4}, 24), false), w(randn64({2, 2, 3, 3}, 25), true), b(randn64({2}, 26), false);
  sum(conv2d(x, w, b, 1, 1)).backward();
  CHECK(w.has_grad());
  CHECK_FALSE(x.has_grad());
  CHECK_FALSE(b.has_grad());
}

TEST_CASE("upsample_nearest2d values and gradcheck", "[autograd][conv]") {
  Variable x(Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}, DType::F64), true);
  Variable y = upsample_nearest2d(x, 2);
  REQUIRE(y.shape() == (Shape{1, 1, 4, 4}));
  CHECK(y.value().at({0, 0, 1, 1}) == 1.0);
  CHECK(y.value().at({0, 0, 0, 3}) == 2.0);
  CHECK(y.value().at({0, 0, 3, 0}) == 3.0);
  // d sum(y * y) / dx = sum over each 2x2 block of 2 y = 8 x.
  sum(mul(y, y)).backward();
  CHECK(max_abs_diff(x.grad(), mul(x.value(), 8.0)) < 1e-14);
  CHECK_GRADCHECK("upsample_nearest2d", [](const std::vector<Variable>& v) { return upsample_nearest2d(v[0], 3); },
                  {randn64({2, 2, 2, 3}, 30)});
}

TEST_CASE("conv -> group_norm -> silu -> conv chain gradcheck end to end", "[autograd][conv][norm]") {
  // A ResNet-style block: conv 3x3, GroupNorm(2 groups), SiLU, strided conv, upsample.
  auto block = [](const std::vector<Variable>& v) {
    Variable h = conv2d(v[0], v[1], v[2], 1, 1);  // (2, 4, 4, 4)
    h = group_norm(h, 2, v[3], v[4]);
    h = silu(h);
    h = conv2d(h, v[5], Variable(), 2, 1);  // (2, 2, 2, 2)
    return upsample_nearest2d(h, 2);        // (2, 2, 4, 4)
  };
  CHECK_GRADCHECK("conv-groupnorm-silu block", block,
                  {randn64({2, 3, 4, 4}, 40), randn64({4, 3, 3, 3}, 41, 0.5), randn64({4}, 42), randn64({4}, 43),
                   randn64({4}, 44), randn64({2, 4, 3, 3}, 45, 0.5)});
}

TEST_CASE("conv2d rejects mismatched channels", "[autograd][conv]") {
  Variable x(randn64({1, 3, 5, 5}, 50)), w(randn64({2, 4, 3, 3}, 51));
  CHECK_THROWS_WITH(conv2d(x, w, Variable(), 1, 1), Catch::Contains("conv2d"));
}
