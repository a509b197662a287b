// Tests of the reductions (autograd/ops_reduce.h): gradcheck in float64 over all axes, chosen
// axes (negative too) and keepdim, on contiguous and strided inputs; max's tie rule by hand.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {
Tensor randn64(const Shape& shape, uint64_t seed) { return Generator(seed).normal(shape, 0.0, 1.0, DType::F64); }
}  // namespace

TEST_CASE("sum and mean pass gradcheck over axes and keepdim", "[autograd][reduce]") {
  const Tensor x = randn64({2, 3, 4}, 1);
  CHECK_GRADCHECK("sum", [](const std::vector<Variable>& v) { return sum(v[0]); }, {x});
  CHECK_GRADCHECK("sum", [](const std::vector<Variable>& v) { return sum(v[0], {1}); }, {x});
  CHECK_GRADCHECK("sum", [](const std::vector<Variable>& v) { return sum(v[0], {0, -1}, true); }, {x});
  CHECK_GRADCHECK("mean", [](const std::vector<Variable>& v) { return mean(v[0]); }, {x});
  CHECK_GRADCHECK("mean", [](const std::vector<Variable>& v) { return mean(v[0], {-1}, true); }, {x});
  CHECK_GRADCHECK("mean", [](const std::vector<Variable>& v) { return mean(v[0], {0, 2}); }, {x});
  // Hand-computed: d mean / dx_i = 1/N
  Variable xv(x, true);
  mean(xv).backward();
  CHECK(xv.grad().shape() == x.shape());
  CHECK(max_abs_diff(xv.grad(), Tensor::full(x.shape(), 1.0 / 24.0, DType::F64)) < 1e-15);
}

TEST_CASE("var passes gradcheck with correction 0 and 1", "[autograd][reduce]") {
  const Tensor x = randn64({3, 5}, 2);
  CHECK_GRADCHECK("var", [](const std::vector<Variable>& v) { return var(v[0]); }, {x});
  CHECK_GRADCHECK("var", [](const std::vector<Variable>& v) { return var(v[0], {1}, false, 0); }, {x});
  CHECK_GRADCHECK("var", [](const std::vector<Variable>& v) { return var(v[0], {0}, true, 1); }, {x});
  const Tensor img = randn64({2, 2, 3, 3}, 3);  // group-norm style: over (C, H, W)
  CHECK_GRADCHECK("var", [](const std::vector<Variable>& v) { return var(v[0], {1, 2, 3}, true, 0); }, {img});
}

TEST_CASE("max passes gradcheck away from ties", "[autograd][reduce]") {
  // Normal values: distinct with probability 1, and well apart for these seeds.
  const Tensor x = randn64({3, 4}, 4);
  CHECK_GRADCHECK("max", [](const std::vector<Variable>& v) { return max(v[0]); }, {x});
  CHECK_GRADCHECK("max", [](const std::vector<Variable>& v) { return max(v[0], {1}); }, {x});
  CHECK_GRADCHECK("max", [](const std::vector<Variable>& v) { return max(v[0], {0}, true); }, {x});
}

TEST_CASE("max splits the gradient equally among tied maxima", "[autograd][reduce]") {
  // Row 0 has a two-way tie (3, 3), row 1 a single maximum; the whole tensor a three-way tie.
  Variable x(Tensor::from_vector({1, 3, 3, 2, 0, 1}, {2, 3}, DType::F64), true);
  sum(max(x, {1})).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 0.5, 0.5, 1.0, 0.0, 0.0});
  Variable y(Tensor::from_vector({5, 1, 5, 5}, {2, 2}, DType::F64), true);
  max(y).backward();
  const double third = 1.0 / 3.0;
  CHECK(y.grad().to_vector() == std::vector<double>{third, 0.0, third, third});
}

TEST_CASE("logsumexp passes gradcheck and is stable for large inputs", "[autograd][reduce]") {
  const Tensor x = randn64({3, 4}, 5);
  CHECK_GRADCHECK("logsumexp", [](const std::vector<Variable>& v) { return logsumexp(v[0], {1}); }, {x});
  CHECK_GRADCHECK("logsumexp", [](const std::vector<Variable>& v) { return logsumexp(v[0], {0}, true); }, {x});
  CHECK_GRADCHECK("logsumexp", [](const std::vector<Variable>& v) { return logsumexp(v[0], {}); }, {x});
  // The gradient is softmax(x): for (1000, 1000 + ln 3) it is (1/4, 3/4), with no overflow.
  Variable big(Tensor::from_vector({1000.0, 1000.0 + std::log(3.0)}, {2}, DType::F64), true);
  logsumexp(big, {0}).backward();
  CHECK(big.grad().at({0}) == Approx(0.25));
  CHECK(big.grad().at({1}) == Approx(0.75));
}

TEST_CASE("reductions accept non-contiguous inputs", "[autograd][reduce]") {
  const Tensor t = randn64({5, 3}, 6).transpose(0, 1);    // (3, 5)
  const Tensor s = randn64({4, 6}, 7).slice(1, 1, 6, 2);  // (4, 3)
  CHECK_GRADCHECK("sum", [](const std::vector<Variable>& v) { return sum(v[0], {1}); }, {t});
  CHECK_GRADCHECK("mean", [](const std::vector<Variable>& v) { return mean(v[0], {0}); }, {s});
  CHECK_GRADCHECK("var", [](const std::vector<Variable>& v) { return var(v[0], {1}); }, {t});
  CHECK_GRADCHECK("max", [](const std::vector<Variable>& v) { return max(v[0], {0}); }, {s});
  CHECK_GRADCHECK("logsumexp", [](const std::vector<Variable>& v) { return logsumexp(v[0], {-1}); }, {t});
}

TEST_CASE("reductions compose: layer-norm-like standardisation", "[autograd][reduce]") {
  // (x - mean) / sqrt(var + eps) over the last axis, then a weighted sum
  CHECK_GRADCHECK("standardise",
                  [](const std::vector<Variable>& v) {
                    const Variable m = mean(v[0], {-1}, true);
                    const Variable s = var(v[0], {-1}, true, 0);
                    return sum((v[0] - m) * rsqrt(s + 1e-3) * v[1], {0});
                  },
                  {randn64({3, 5}, 8), randn64({5}, 9)});
}

TEST_CASE("reductions reject bad axes through the tensor library", "[autograd][reduce]") {
  Variable x(Tensor::ones({2, 3}, DType::F64), true);
  CHECK_THROWS_WITH(sum(x, {2}), Catch::Contains("sum"));
  CHECK_THROWS_WITH(max(x, {-3}), Catch::Contains("max"));
}
