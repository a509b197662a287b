// Tests of mse_loss, cross_entropy and dropout: hand-computed values, the cross-entropy gradient
// (softmax - onehot) / N, agreement with the log_softmax + gather composition, float64
// gradchecks, dropout's mask statistics, scaling, reproducibility and identity modes, and the
// error messages (target out of range, bad shapes, bad p).
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

}  // namespace

TEST_CASE("mse_loss value and gradients", "[autograd][loss]") {
  // ((1-0)^2 + (2-4)^2 + (3-3)^2 + (4-1)^2) / 4 = (1 + 4 + 0 + 9) / 4 = 3.5
  Variable p(Tensor::from_vector({1, 2, 3, 4}, {2, 2}, DType::F64), true);
  Variable t(Tensor::from_vector({0, 4, 3, 1}, {2, 2}, DType::F64), true);
  Variable l = mse_loss(p, t);
  CHECK(l.shape() == Shape{});
  CHECK(l.item() == Approx(3.5).epsilon(1e-15));
  l.backward();
  // dL/dp = 2 (p - t) / 4 = (0.5, -1, 0, 1.5); dL/dt = -dL/dp.
  CHECK(max_abs_diff(p.grad(), Tensor::from_vector({0.5, -1, 0, 1.5}, {2, 2}, DType::F64)) < 1e-15);
  CHECK(max_abs_diff(t.grad(), Tensor::from_vector({-0.5, 1, 0, -1.5}, {2, 2}, DType::F64)) < 1e-15);
  CHECK_GRADCHECK("mse_loss", [](const std::vector<Variable>& v) { return mse_loss(v[0], v[1]); },
                  {randn64({3, 4}, 1), randn64({3, 4}, 2)});
  CHECK_THROWS_WITH(mse_loss(p, Variable(Tensor::zeros({4}, DType::F64))),
                    Catch::Contains("mse_loss") && Catch::Contains("(2, 2)") && Catch::Contains("(4,)"));
}

TEST_CASE("cross_entropy hand-computed values", "[autograd][loss]") {
  // Equal logits over C classes: loss ln C whatever the target.
  Variable z0(Tensor::zeros({2, 4}, DType::F64));
  CHECK(cross_entropy(z0, Tensor::from_indices({0, 3}, {2})).item() == Approx(std::log(4.0)).epsilon(1e-14));
  // Row (0, ln 3) with target 1: p = 3/4, loss -ln(3/4); target 0: -ln(1/4). Mean of both.
  Variable z(Tensor::from_vector({0, std::log(3.0), 0, std::log(3.0)}, {2, 2}, DType::F64), true);
  Variable l = cross_entropy(z, Tensor::from_indices({1, 0}, {2}));
  CHECK(l.item() == Approx(0.5 * (-std::log(0.75) - std::log(0.25))).epsilon(1e-14));
  l.backward();
  // (softmax - onehot) / N = ((1/4, 3/4) - (0, 1)) / 2 and ((1/4, 3/4) - (1, 0)) / 2.
  CHECK(max_abs_diff(z.grad(), Tensor::from_vector({0.125, -0.125, -0.375, 0.375}, {2, 2}, DType::F64)) < 1e-15);
  // Large logits stay finite (computed through a stable log-softmax).
  Variable big(Tensor::from_vector({1000, 0, -1000}, {1, 3}, DType::F32));
  CHECK(cross_entropy(big, Tensor::from_indices({0}, {1})).item() == Approx(0.0).margin(1e-6));
  CHECK(cross_entropy(big, Tensor::from_indices({2}, {1})).item() == Approx(2000.0).epsilon(1e-6));
}

TEST_CASE("cross_entropy matches log_softmax + gather and gradchecks", "[autograd][loss]") {
  const Tensor z0 = randn64({5, 4}, 10, 2.0);
  const Tensor target = Tensor::from_indices({3, 0, 1, 1, 2}, {5});
  Variable z1(z0, true), z2(z0, true);
  Variable l1 = cross_entropy(z1, target);
  // Reference: -mean_n log_softmax(z)_{n, t_n} from elementary ops.
  Variable l2 = cross_entropy_naive(z2, target);
  CHECK(l1.item() == Approx(l2.item()).epsilon(1e-14));
  l1.backward();
  l2.backward();
  CHECK(max_abs_diff(z1.grad(), z2.grad()) < 1e-15);
  // And equals (softmax - onehot) / N computed with the tensor library.
  Tensor expect = div(sub(softmax(z0, 1), one_hot(target, 4, DType::F64)), 5.0);
  CHECK(max_abs_diff(z1.grad(), expect) < 1e-15);
  CHECK_GRADCHECK("cross_entropy", [&](const std::vector<Variable>& v) { return cross_entropy(v[0], target); }, {z0});
  // Scaled upstream gradient (the loss inside a larger sum).
  CHECK_GRADCHECK("cross_entropy scaled",
                  [&](const std::vector<Variable>& v) { return mul(cross_entropy(v[0], target), 3.0); }, {z0});
}

TEST_CASE("cross_entropy on inputs large enough for the multithreaded kernel paths", "[autograd][loss]") {
  // 512 rows of 16 classes exceed parallel_for's ~32k-flop threshold.
  const Tensor z0 = randn64({512, 16}, 14, 2.0);
  const Tensor target = Generator(15).randint(0, 16, {512});
  Variable z1(z0, true), z2(z0, true);
  Variable l1 = cross_entropy(z1, target);
  Variable l2 = cross_entropy_naive(z2, target);
  CHECK(l1.item() == Approx(l2.item()).epsilon(1e-13));
  l1.backward();
  l2.backward();
  CHECK(max_abs_diff(z1.grad(), z2.grad()) < 1e-15);
}

TEST_CASE("cross_entropy rejects bad targets with helpful messages", "[autograd][loss]") {
  Variable z(randn64({3, 4}, 20));
  CHECK_THROWS_WITH(cross_entropy(z, Tensor::from_indices({0, 4, 1}, {3})),
                    Catch::Contains("cross_entropy") && Catch::Contains("target[1] = 4 is out of range for 4 classes"));
  CHECK_THROWS_WITH(cross_entropy(z, Tensor::from_indices({0, -1, 1}, {3})), Catch::Contains("target[1] = -1"));
  CHECK_THROWS_WITH(cross_entropy(z, Tensor::from_indices({0, 1}, {2})),
                    Catch::Contains("int64 target of shape (3,)") && Catch::Contains("got (2,)"));
  CHECK_THROWS_WITH(cross_entropy(z, Tensor::zeros({3}, DType::F64)), Catch::Contains("float64"));
  CHECK_THROWS_WITH(cross_entropy(Variable(randn64({3}, 21)), Tensor::from_indices({0}, {1})),
                    Catch::Contains("(N, C)"));
}

TEST_CASE("dropout: inverted scaling, mask statistics, gradient = mask / (1 - p)", "[autograd][dropout]") {
  const int64_t n = 20000;
  const double p = 0.25;
  Variable x(Tensor::ones({n}, DType::F64), true);
  Generator gen(5);
  Variable y = dropout(x, p, gen, true);
  int64_t kept = 0;
  bool values_ok = true;
  for (int64_t i = 0; i < n; ++i) {
    const double v = y.value().at({i});
    if (v != 0.0) ++kept;
    values_ok = values_ok && (v == 0.0 || std::abs(v - 1.0 / 0.75) < 1e-15);
  }
  CHECK(values_ok);
  // kept ~ Binomial(20000, 0.75): mean 15000, sd ~61; 5 sd is 306.
  CHECK(std::abs(static_cast<double>(kept) - 15000.0) < 306.0);
  const Tensor g = randn64({n}, 6);
  y.backward(g);
  // x = 1, so y is exactly the scaled mask: dx = g * y.
  CHECK(max_abs_diff(x.grad(), mul(g, y.value())) == 0.0);
}

TEST_CASE("dropout is reproducible from the seed and gradchecks with a fixed mask", "[autograd][dropout]") {
  const Tensor x0 = randn64({4, 6}, 30);
  Generator g1(7), g2(7), g3(8);
  Tensor a = dropout(Variable(x0), 0.5, g1).value(), b = dropout(Variable(x0), 0.5, g2).value();
  Tensor c = dropout(Variable(x0), 0.5, g3).value();
  CHECK(max_abs_diff(a, b) == 0.0);
  CHECK(max_abs_diff(a, c) > 0.0);
  // A fresh generator per call gives the same mask each evaluation, so finite differences apply.
  CHECK_GRADCHECK("dropout",
                  [](const std::vector<Variable>& v) {
                    Generator gen(9);
                    return dropout(v[0], 0.3, gen, true);
                  },
                  {x0});
}

TEST_CASE("dropout is the identity when not training or p = 0, p = 1 zeros", "[autograd][dropout]") {
  Variable x(randn64({3, 3}, 40), true);
  Generator gen(1);
  const auto state = gen.state();
  Variable e = dropout(x, 0.5, gen, false);
  CHECK(e.value().data<double>() == x.value().data<double>());  // the same Variable, no copy
  CHECK(dropout(x, 0.0, gen, true).value().data<double>() == x.value().data<double>());
  CHECK(gen.state().offset == state.offset);  // no random numbers drawn
  Variable z = dropout(x, 1.0, gen, true);
  CHECK(max_abs_diff(z.value(), Tensor::zeros({3, 3}, DType::F64)) == 0.0);
  sum(z).backward();
  CHECK(max_abs_diff(x.grad(), Tensor::zeros({3, 3}, DType::F64)) == 0.0);
  CHECK_THROWS_WITH(dropout(x, 1.5, gen, true), Catch::Contains("dropout") && Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(dropout(x, -0.1, gen, true), Catch::Contains("[0, 1]"));
}
