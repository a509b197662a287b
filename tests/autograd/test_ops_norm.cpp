// Tests of the fused layer_norm and group_norm: values and gradients against layer_norm_naive /
// group_norm_naive, the composition (x - mean) * rsqrt(var + eps) * w + b of elementary ops, hand-computed values,
// float64 gradchecks (with and without affine parameters, non-contiguous inputs), float32 agreement and the error
// messages for bad shapes.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

using Fn = std::function<Variable(const std::vector<Variable>&)>;

Tensor randn64(const Shape& shape, uint64_t seed, double mean = 0.0, double stddev = 1.0) {
  return Generator(seed).normal(shape, mean, stddev, DType::F64);
}

// Runs both functions on fresh leaves of the same inputs (undefined tensors stay undefined
// Variables), backpropagates one random upstream gradient, compares outputs and gradients.
void check_matches(const Fn& fused, const Fn& ref, const std::vector<Tensor>& inputs, double tol) {
  std::vector<Variable> a, b;
  for (const Tensor& t : inputs) {
    a.push_back(t.defined() ? Variable(t.clone(), true) : Variable());
    b.push_back(t.defined() ? Variable(t.clone(), true) : Variable());
  }
  Variable ya = fused(a), yb = ref(b);
  REQUIRE(ya.shape() == yb.shape());
  CHECK(max_abs_diff(ya.value(), yb.value()) < tol);
  const Tensor g = Generator(77).normal(ya.shape(), 0.0, 1.0, ya.dtype());
  ya.backward(g);
  yb.backward(g);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    INFO("input " << i);
    REQUIRE(a[i].has_grad());
    CHECK(max_abs_diff(a[i].grad(), b[i].grad()) < tol);
  }
}

Fn ln(double eps = 1e-5) {
  return [eps](const std::vector<Variable>& v) { return layer_norm(v[0], v[1], v[2], eps); };
}
Fn ln_ref(double eps = 1e-5) {
  return [eps](const std::vector<Variable>& v) { return layer_norm_naive(v[0], v[1], v[2], eps); };
}
Fn gn(int64_t groups, double eps = 1e-5) {
  return [groups, eps](const std::vector<Variable>& v) { return group_norm(v[0], groups, v[1], v[2], eps); };
}
Fn gn_ref(int64_t groups, double eps = 1e-5) {
  return [groups, eps](const std::vector<Variable>& v) { return group_norm_naive(v[0], groups, v[1], v[2], eps); };
}

}  // namespace

// Fused vs composition tolerance: both are float64 evaluations of the same formulas in a
// different order; differences are ~1e-15 relative, so 1e-10 absolute is a safe bound that
// still catches any wrong term (which would be O(1)).

TEST_CASE("layer_norm matches the composition of elementary ops", "[autograd][norm]") {
  const Tensor x = randn64({3, 4, 6}, 1, 1.0, 2.0);
  check_matches(ln(), ln_ref(), {x, randn64({6}, 2), randn64({6}, 3)}, 1e-10);
  check_matches(ln(), ln_ref(), {x, Tensor(), Tensor()}, 1e-10);
  check_matches(ln(1e-3), ln_ref(1e-3), {x, randn64({6}, 4), Tensor()}, 1e-10);
  check_matches(ln(), ln_ref(), {x, Tensor(), randn64({6}, 5)}, 1e-10);
}

TEST_CASE("group_norm matches the composition of elementary ops", "[autograd][norm]") {
  check_matches(gn(3), gn_ref(3), {randn64({2, 6, 3, 4}, 10, 0.5, 2.0), randn64({6}, 11), randn64({6}, 12)}, 1e-10);
  check_matches(gn(2), gn_ref(2), {randn64({2, 4, 5}, 13), randn64({4}, 14), randn64({4}, 15)}, 1e-10);
  check_matches(gn(1), gn_ref(1), {randn64({2, 4, 2, 3}, 16), Tensor(), Tensor()}, 1e-10);
  check_matches(gn(4), gn_ref(4), {randn64({3, 4, 2, 2}, 17), randn64({4}, 18), Tensor()}, 1e-10);
}

TEST_CASE("norms on inputs large enough for the multithreaded kernel paths", "[autograd][norm]") {
  // parallel_for splits loops above ~32k flops: 256 rows of 64 (layer_norm) and 32 groups of
  // 1024 values / 32 channels over 4 x 256 positions (group_norm) take the threaded branches.
  check_matches(ln(), ln_ref(), {randn64({256, 64}, 6, 0.5, 2.0), randn64({64}, 7), randn64({64}, 8)}, 1e-10);
  check_matches(gn(8), gn_ref(8), {randn64({4, 32, 16, 16}, 19), randn64({32}, 20), randn64({32}, 21)}, 1e-10);
}

TEST_CASE("layer_norm and group_norm hand-computed values", "[autograd][norm]") {
  // Row (1, 2, 3): mean 2, biased variance 2/3, so with eps = 0: (-sqrt(3/2), 0, sqrt(3/2)).
  Variable x(Tensor::from_vector({1, 2, 3}, {1, 3}, DType::F64));
  Tensor y = layer_norm(x, Variable(), Variable(), 0.0).value();
  CHECK(y.at({0, 0}) == Approx(-std::sqrt(1.5)).epsilon(1e-14));
  CHECK(y.at({0, 1}) == Approx(0.0).margin(1e-14));
  CHECK(y.at({0, 2}) == Approx(std::sqrt(1.5)).epsilon(1e-14));
  // With weight (2, 2, 2), bias (1, 1, 1) and eps = 1: rstd = 1 / sqrt(2/3 + 1).
  Variable w(Tensor::full({3}, 2.0, DType::F64)), b(Tensor::ones({3}, DType::F64));
  Tensor y2 = layer_norm(x, w, b, 1.0).value();
  CHECK(y2.at({0, 2}) == Approx(1.0 + 2.0 / std::sqrt(5.0 / 3.0)).epsilon(1e-14));
  // group_norm with one group per channel pair: (B=1, C=4, L=1), groups 2: groups (0, 2) and (4, 8).
  Variable xg(Tensor::from_vector({0, 2, 4, 8}, {1, 4, 1}, DType::F64));
  Tensor yg = group_norm(xg, 2, Variable(), Variable(), 0.0).value();
  CHECK(max_abs_diff(yg, Tensor::from_vector({-1, 1, -1, 1}, {1, 4, 1}, DType::F64)) < 1e-14);
}

TEST_CASE("normalised groups have zero mean and unit variance", "[autograd][norm]") {
  Tensor y = group_norm(Variable(randn64({2, 8, 4, 4}, 20, 3.0, 5.0)), 4, Variable(), Variable(), 0.0).value();
  Tensor yg = y.reshape({2, 4, -1});
  CHECK(max_abs_diff(mean(yg, {2}), Tensor::zeros({2, 4}, DType::F64)) < 1e-12);
  CHECK(max_abs_diff(var(yg, {2}, false, 0), Tensor::ones({2, 4}, DType::F64)) < 1e-12);
}

TEST_CASE("layer_norm gradcheck", "[autograd][norm]") {
  CHECK_GRADCHECK("layer_norm affine", ln(), {randn64({3, 5}, 30), randn64({5}, 31), randn64({5}, 32)});
  CHECK_GRADCHECK("layer_norm 3-d", ln(), {randn64({2, 3, 4}, 33), randn64({4}, 34), randn64({4}, 35)});
  CHECK_GRADCHECK("layer_norm weight only",
                  [](const std::vector<Variable>& v) { return layer_norm(v[0], v[1], Variable()); },
                  {randn64({3, 5}, 36), randn64({5}, 37)});
  CHECK_GRADCHECK("layer_norm no affine",
                  [](const std::vector<Variable>& v) { return layer_norm(v[0], Variable(), Variable()); },
                  {randn64({4, 6}, 38)});
  CHECK_GRADCHECK("layer_norm transposed input", ln(),
                  {randn64({5, 3}, 39).transpose(0, 1), randn64({5}, 40), randn64({5}, 41)});
}

TEST_CASE("group_norm gradcheck", "[autograd][norm]") {
  CHECK_GRADCHECK("group_norm 4-d", gn(2), {randn64({2, 4, 3, 3}, 50), randn64({4}, 51), randn64({4}, 52)});
  CHECK_GRADCHECK("group_norm 3-d", gn(3), {randn64({2, 6, 4}, 53), randn64({6}, 54), randn64({6}, 55)});
  CHECK_GRADCHECK("group_norm groups == C", gn(4), {randn64({2, 4, 5}, 56), randn64({4}, 57), randn64({4}, 58)});
  CHECK_GRADCHECK("group_norm no affine",
                  [](const std::vector<Variable>& v) { return group_norm(v[0], 2, Variable(), Variable()); },
                  {randn64({2, 4, 2, 3}, 59)});
  CHECK_GRADCHECK("group_norm permuted input", gn(2),
                  {randn64({2, 3, 3, 4}, 60).permute({0, 3, 1, 2}), randn64({4}, 61), randn64({4}, 62)});
}

TEST_CASE("norm parameter gradients when the input needs none", "[autograd][norm]") {
  // x is a constant: only dweight and dbias are computed; they still match the composition.
  const Tensor x = randn64({2, 4, 3}, 65), w = randn64({4}, 66), b = randn64({4}, 67), g = randn64({2, 4, 3}, 68);
  Variable w1(w, true), b1(b, true), w2(w, true), b2(b, true);
  Variable xc(x, false);
  group_norm(xc, 2, w1, b1).backward(g);
  group_norm_naive(xc, 2, w2, b2, 1e-5).backward(g);
  CHECK_FALSE(xc.has_grad());
  CHECK(max_abs_diff(w1.grad(), w2.grad()) < 1e-10);
  CHECK(max_abs_diff(b1.grad(), b2.grad()) < 1e-10);
}

TEST_CASE("layer_norm and group_norm float32 agree with float64", "[autograd][norm]") {
  const Tensor x = randn64({4, 8, 4, 4}, 70, 1.0, 2.0), w = randn64({8}, 71), b = randn64({8}, 72);
  const Tensor g = randn64({4, 8, 4, 4}, 73);
  for (int which = 0; which < 2; ++which) {
    INFO((which == 0 ? "group_norm" : "layer_norm"));
    const Tensor wl = randn64({4}, 74), bl = randn64({4}, 75);
    std::vector<Variable> v64 = {Variable(x, true), Variable(which == 0 ? w : wl, true),
                                 Variable(which == 0 ? b : bl, true)};
    std::vector<Variable> v32;
    for (const auto& v : v64) v32.push_back(Variable(v.value().to(DType::F32), true));
    const Fn f = which == 0 ? gn(4) : ln();
    Variable y64 = f(v64), y32 = f(v32);
    // float32 rounding on O(1) normalised values and sums over up to 128 terms: ~1e-5.
    CHECK(max_abs_diff(y64.value(), y32.value()) < 1e-4);
    y64.backward(g);
    y32.backward(g.to(DType::F32));
    for (int i = 0; i < 3; ++i) CHECK(max_abs_diff(v64[i].grad(), v32[i].grad()) < 1e-3);
  }
}

TEST_CASE("layer_norm and group_norm reject bad shapes with helpful messages", "[autograd][norm]") {
  Variable x(randn64({2, 6, 3, 3}, 80));
  CHECK_THROWS_WITH(group_norm(x, 4, Variable(), Variable()), Catch::Contains("group_norm") &&
                                                                  Catch::Contains("channels (6)") &&
                                                                  Catch::Contains("divisible by groups (4)"));
  CHECK_THROWS_WITH(group_norm(x, 0, Variable(), Variable()), Catch::Contains("divisible by groups (0)"));
  CHECK_THROWS_WITH(group_norm(x, 3, Variable(randn64({3}, 81)), Variable()),
                    Catch::Contains("weight must have shape (6,)") && Catch::Contains("got (3,)"));
  CHECK_THROWS_WITH(group_norm(Variable(randn64({6}, 82)), 3, Variable(), Variable()), Catch::Contains("(B, C, *)"));
  Variable y(randn64({4, 5}, 83));
  CHECK_THROWS_WITH(
      layer_norm(y, Variable(randn64({4}, 84)), Variable()),
      Catch::Contains("layer_norm") && Catch::Contains("weight must have shape (5,)") && Catch::Contains("got (4,)"));
  CHECK_THROWS_WITH(layer_norm(y, Variable(), Variable(randn64({5}, 85).to(DType::F32))),
                    Catch::Contains("bias") && Catch::Contains("float32"));
}
