// Tests of the layer_norm and group_norm ops: values and gradients against layer_norm_naive /
// group_norm_naive, the composition (x - mean) * rsqrt(var + eps) * w + b of elementary ops, float64 gradchecks
// (with and without affine parameters, non-contiguous inputs), parameter gradients without the input's and the
// error messages for bad shapes. The kernels (threaded sizes, hand values, float32): tests/tensor/test_norm.cpp.
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
