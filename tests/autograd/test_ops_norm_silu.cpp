// Tests of the fused group_norm_silu op (autograd/ops_norm.h): values and gradients against
// group_norm_silu_naive = silu(group_norm_naive(...)), the composition of elementary ops, in
// float64 (tolerance 1e-10: the same formulas evaluated in another order); float64 gradchecks;
// GroupNorm::forward_silu; error messages. The kernel on the threaded path, in float64 and
// float32: tests/tensor/test_norm.cpp.
#include <catch2/catch.hpp>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "nn/norm.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

using Fn = std::function<Variable(const std::vector<Variable>&)>;

Tensor randn(const Shape& shape, uint64_t seed, DType dtype = DType::F64, double stddev = 1.0) {
  return Generator(seed).normal(shape, 0.0, stddev, dtype);
}

Fn fused(int64_t groups) {
  return [groups](const std::vector<Variable>& v) { return group_norm_silu(v[0], groups, v[1], v[2]); };
}
Fn naive(int64_t groups) {
  return [groups](const std::vector<Variable>& v) { return group_norm_silu_naive(v[0], groups, v[1], v[2]); };
}

// Runs both on fresh leaves, backpropagates one random upstream gradient, compares everything.
void check_matches(const Fn& a_fn, const Fn& b_fn, const std::vector<Tensor>& inputs, double tol) {
  std::vector<Variable> a, b;
  for (const Tensor& t : inputs) {
    a.push_back(t.defined() ? Variable(t.clone(), true) : Variable());
    b.push_back(t.defined() ? Variable(t.clone(), true) : Variable());
  }
  Variable ya = a_fn(a), yb = b_fn(b);
  REQUIRE(ya.shape() == yb.shape());
  CHECK(max_abs_diff(ya.value(), yb.value()) < tol);
  const Tensor g = Generator(91).normal(ya.shape(), 0.0, 1.0, ya.dtype());
  ya.backward(g);
  yb.backward(g);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    INFO("input " << i);
    REQUIRE(a[i].has_grad());
    CHECK(max_abs_diff(a[i].grad(), b[i].grad()) < tol);
  }
}

}  // namespace

TEST_CASE("group_norm_silu matches silu(group_norm_naive) in float64", "[autograd][norm]") {
  check_matches(fused(2), naive(2), {randn({2, 4, 3, 3}, 1, DType::F64, 2.0), randn({4}, 2), randn({4}, 3)}, 1e-10);
  check_matches(fused(3), naive(3), {randn({3, 6, 5}, 4), randn({6}, 5), randn({6}, 6)}, 1e-10);
  check_matches(fused(2), naive(2), {randn({2, 4, 3, 3}, 7), Tensor(), Tensor()}, 1e-10);
}

TEST_CASE("group_norm_silu gradcheck", "[autograd][norm]") {
  CHECK_GRADCHECK("group_norm_silu 4-d", fused(2), {randn({2, 4, 3, 3}, 20), randn({4}, 21), randn({4}, 22)});
  CHECK_GRADCHECK("group_norm_silu 3-d", fused(3), {randn({2, 6, 4}, 23), randn({6}, 24), randn({6}, 25)});
  CHECK_GRADCHECK("group_norm_silu no affine",
                  [](const std::vector<Variable>& v) { return group_norm_silu(v[0], 2, Variable(), Variable()); },
                  {randn({2, 4, 5}, 26)});
}

TEST_CASE("group_norm_silu parameter gradients when the input needs none", "[autograd][norm]") {
  const Tensor x = randn({2, 4, 6}, 30);
  const Tensor g = randn({2, 4, 6}, 31);
  Variable w1(randn({4}, 32), true), b1(randn({4}, 33), true);
  Variable w2(w1.value().clone(), true), b2(b1.value().clone(), true);
  group_norm_silu(Variable(x), 2, w1, b1).backward(g);
  group_norm_silu_naive(Variable(x), 2, w2, b2).backward(g);
  CHECK(max_abs_diff(w1.grad(), w2.grad()) < 1e-10);
  CHECK(max_abs_diff(b1.grad(), b2.grad()) < 1e-10);
}

TEST_CASE("GroupNorm::forward_silu is silu(forward) and checks its input", "[autograd][norm][nn]") {
  GroupNorm gn(GroupNormOptions{4, 8});
  gn.weight.mutable_value().copy_(randn({8}, 40, DType::F32));
  gn.bias.mutable_value().copy_(randn({8}, 41, DType::F32));
  const Variable x(randn({2, 8, 4, 4}, 42, DType::F32));
  CHECK(max_abs_diff(gn.forward_silu(x).value(), silu(gn.forward(x)).value()) < 1e-6);
  CHECK_THROWS_WITH(gn.forward_silu(Variable(randn({2, 6, 4}, 43, DType::F32))), Catch::Contains("expected (B, 8"));
  CHECK_THROWS_WITH(group_norm_silu(Variable(randn({2, 6, 4}, 44)), 4, Variable(), Variable()),
                    Catch::Contains("group_norm_silu: channels (6)"));
}
