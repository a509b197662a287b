// Tests of the softmax / log_softmax ops: values and gradients against softmax_naive /
// log_softmax_naive (compositions of the elementary ops) on every axis, float64 gradchecks
// (including non-contiguous inputs) and the error messages. The kernels themselves (threaded
// sizes, hand values, large logits, float32): tests/tensor/test_softmax.cpp.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed, double stddev = 1.0) {
  return Generator(seed).normal(shape, 0.0, stddev, DType::F64);
}

// Same inputs, same random upstream gradient: compares the two outputs and the two input gradients.
void check_matches(Variable (*fused)(const Variable&, int64_t), Variable (*ref)(const Variable&, int64_t),
                   const Tensor& x0, int64_t axis, double tol) {
  Variable x1(x0.clone(), true), x2(x0.clone(), true);
  Variable y1 = fused(x1, axis), y2 = ref(x2, axis);
  REQUIRE(y1.shape() == x0.shape());
  CHECK(max_abs_diff(y1.value(), y2.value()) < tol);
  const Tensor g = Generator(99).normal(x0.shape(), 0.0, 1.0, x0.dtype());
  y1.backward(g);
  y2.backward(g);
  CHECK(max_abs_diff(x1.grad(), x2.grad()) < tol);
}

}  // namespace

TEST_CASE("softmax and log_softmax match the composition on every axis", "[autograd][softmax]") {
  const Tensor x = randn64({3, 4, 5}, 1, 2.0);
  for (int64_t axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    // float64, the same maths in a different order: agreement to ~1e-15; 1e-12 is the bound.
    check_matches(softmax, softmax_naive, x, axis, 1e-12);
    check_matches(log_softmax, log_softmax_naive, x, axis, 1e-12);
  }
  // The tensor library's forward agrees too.
  CHECK(max_abs_diff(softmax(Variable(x), 1).value(), softmax(x, 1)) < 1e-14);
  CHECK(max_abs_diff(log_softmax(Variable(x), -1).value(), log_softmax(x, -1)) < 1e-14);
}

TEST_CASE("softmax gradcheck, including non-contiguous inputs", "[autograd][softmax]") {
  auto sm = [](int64_t axis) { return [axis](const std::vector<Variable>& v) { return softmax(v[0], axis); }; };
  auto lsm = [](int64_t axis) { return [axis](const std::vector<Variable>& v) { return log_softmax(v[0], axis); }; };
  CHECK_GRADCHECK("softmax axis -1", sm(-1), {randn64({3, 5}, 3)});
  CHECK_GRADCHECK("softmax axis 1 of 3", sm(1), {randn64({2, 4, 3}, 4)});
  CHECK_GRADCHECK("softmax axis 0", sm(0), {randn64({4, 3}, 5)});
  CHECK_GRADCHECK("log_softmax axis -1", lsm(-1), {randn64({3, 5}, 6)});
  CHECK_GRADCHECK("log_softmax axis 1 of 3", lsm(1), {randn64({2, 4, 3}, 7)});
  // Transposed view as the input: the kernel copies it to contiguous, the gradient keeps the view's shape.
  CHECK_GRADCHECK("softmax transposed input", sm(-1), {randn64({5, 3}, 8).transpose(0, 1)});
  CHECK_GRADCHECK("log_softmax permuted input", lsm(1), {randn64({3, 4, 2}, 9).permute({2, 0, 1})});
}

TEST_CASE("softmax rejects a bad axis and integer input", "[autograd][softmax]") {
  Variable x(randn64({2, 3}, 12));
  CHECK_THROWS_WITH(softmax(x, 2), Catch::Contains("softmax"));
  CHECK_THROWS_WITH(log_softmax(x, -3), Catch::Contains("log_softmax"));
  CHECK_THROWS_WITH(softmax(Variable(Tensor::from_indices({1, 2}, {2})), 0), Catch::Contains("int64"));
}
