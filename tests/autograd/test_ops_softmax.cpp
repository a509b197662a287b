// Tests of the fused softmax / log_softmax: values and gradients against softmax_naive /
// log_softmax_naive (compositions of the elementary ops) on every axis, float64 gradchecks
// (including non-contiguous inputs), stability at large logits and float32 agreement.
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

TEST_CASE("softmax on inputs large enough for the multithreaded kernel paths", "[autograd][softmax]") {
  // (256, 64) along either axis exceeds parallel_for's ~32k-flop threshold.
  const Tensor x = randn64({256, 64}, 13, 2.0);
  for (int64_t axis : {0, 1}) {
    INFO("axis " << axis);
    check_matches(softmax, softmax_naive, x, axis, 1e-12);
    check_matches(log_softmax, log_softmax_naive, x, axis, 1e-12);
  }
}

TEST_CASE("softmax hand-computed values, rows sum to one", "[autograd][softmax]") {
  // softmax(0, ln 2, ln 5) = (1, 2, 5) / 8.
  Variable x(Tensor::from_vector({0.0, std::log(2.0), std::log(5.0)}, {1, 3}, DType::F64));
  Tensor p = softmax(x, -1).value();
  CHECK(p.at({0, 0}) == Approx(0.125).epsilon(1e-14));
  CHECK(p.at({0, 1}) == Approx(0.25).epsilon(1e-14));
  CHECK(p.at({0, 2}) == Approx(0.625).epsilon(1e-14));
  CHECK(log_softmax(x, -1).value().at({0, 2}) == Approx(std::log(0.625)).epsilon(1e-14));
  Tensor rows = sum(softmax(Variable(randn64({4, 7, 2}, 2)), 1).value(), {1});
  CHECK(max_abs_diff(rows, Tensor::ones({4, 2}, DType::F64)) < 1e-14);
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

TEST_CASE("softmax is stable for large logits", "[autograd][softmax]") {
  Variable x(Tensor::from_vector({1000.0, 1001.0, 1002.0, -1000.0}, {1, 4}, DType::F32), true);
  Variable y = softmax(x, -1);
  Variable ly = log_softmax(x, -1);
  CHECK(all_finite(y.value()));
  CHECK(all_finite(ly.value()));
  // softmax(0, 1, 2) = e^k / (1 + e + e^2).
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  CHECK(y.value().at({0, 2}) == Approx(std::exp(2.0) / z).epsilon(1e-6));
  CHECK(ly.value().at({0, 0}) == Approx(-std::log(z)).epsilon(1e-6));
  sum(mul(y, ly)).backward();
  CHECK(all_finite(x.grad()));
}

TEST_CASE("softmax float32 agrees with float64", "[autograd][softmax]") {
  const Tensor x64 = randn64({6, 33}, 10, 3.0), g64 = randn64({6, 33}, 11);
  using Fn = Variable (*)(const Variable&, int64_t);
  for (Fn op : {Fn(softmax), Fn(log_softmax)}) {
    Variable a(x64, true), b(x64.to(DType::F32), true);
    Variable ya = op(a, -1), yb = op(b, -1);
    // float32 relative rounding ~1e-7 on O(1..10) values; 1e-5 absolute leaves margin.
    CHECK(max_abs_diff(ya.value(), yb.value()) < 1e-5);
    ya.backward(g64);
    yb.backward(g64.to(DType::F32));
    CHECK(max_abs_diff(a.grad(), b.grad()) < 1e-5);
  }
}

TEST_CASE("softmax rejects a bad axis and integer input", "[autograd][softmax]") {
  Variable x(randn64({2, 3}, 12));
  CHECK_THROWS_WITH(softmax(x, 2), Catch::Contains("softmax"));
  CHECK_THROWS_WITH(log_softmax(x, -3), Catch::Contains("log_softmax"));
  CHECK_THROWS_WITH(softmax(Variable(Tensor::from_indices({1, 2}, {2})), 0), Catch::Contains("int64"));
}
