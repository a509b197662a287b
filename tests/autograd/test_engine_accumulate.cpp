// Tests of the engine's in-place gradient accumulation (autograd/variable.cpp): adjoints that
// reach a value along several paths are summed into the first one's memory only when nothing
// else refers to it. These graphs hand the same gradient tensor to several inputs, or return
// the caller's upstream gradient itself, and check that no tensor seen elsewhere is modified.
// Expected values are worked out by hand; float64, exact.
#include <catch2/catch.hpp>

#include "autograd/autograd.h"
#include "tensor/tensor.h"

using namespace tinydiff;

TEST_CASE("engine: three consumers of one value get the exact sum", "[autograd][engine]") {
  // loss = sum(x + x) + sum(3 x) + sum(x): d/dx = 2 + 3 + 1 = 6
  Variable x(Tensor::from_vector({1, 2, 3, 4}, {4}, DType::F64), true);
  Variable loss = sum(add(x, x)) + sum(mul(x, 3.0)) + sum(x);
  loss.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{6, 6, 6, 6});
}

TEST_CASE("engine: an upstream gradient shared by two inputs is not modified", "[autograd][engine]") {
  // y = a + b with a = reshape(x), b = x: add's backward returns g for both; they meet at x.
  Variable x(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64), true);
  Variable y = add(reshape(reshape(x, {3, 2}), {2, 3}), x);
  const Tensor g = Tensor::from_vector({1, 10, 100, 1000, 1e4, 1e5}, {2, 3}, DType::F64);
  y.backward(g);
  CHECK(g.to_vector() == std::vector<double>{1, 10, 100, 1000, 1e4, 1e5});
  CHECK(x.grad().to_vector() == std::vector<double>{2, 20, 200, 2000, 2e4, 2e5});
  // The leaf's gradient does not alias the caller's tensor.
  Tensor g2 = g;
  g2.fill_(0.0);
  CHECK(x.grad().to_vector() == std::vector<double>{2, 20, 200, 2000, 2e4, 2e5});
}

TEST_CASE("engine: gradients accumulate into a leaf over two backward calls without aliasing", "[autograd][engine]") {
  Variable x(Tensor::from_vector({1, 2}, {2}, DType::F64), true);
  const Tensor g = Tensor::from_vector({5, 7}, {2}, DType::F64);
  Variable y1 = mul(x, 1.0);
  y1.backward(g);
  Variable y2 = mul(x, 2.0);
  y2.backward(g);
  CHECK(x.grad().to_vector() == std::vector<double>{15, 21});
  CHECK(g.to_vector() == std::vector<double>{5, 7});
}
