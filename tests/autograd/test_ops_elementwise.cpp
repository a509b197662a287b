// Tests of the elementwise ops (autograd/ops_elementwise.h): every op gradchecked in float64
// (gradcheck's defaults: eps 1e-6, atol 1e-5, rtol 1e-3), with broadcasting, non-contiguous
// inputs and compositions; conventions at kinks and ties checked by hand; dtype errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

using Fn = std::function<Variable(const std::vector<Variable>&)>;

Tensor randn64(const Shape& shape, uint64_t seed) { return Generator(seed).normal(shape, 0.0, 1.0, DType::F64); }
Tensor uniform64(const Shape& shape, double lo, double hi, uint64_t seed) {
  return Generator(seed).uniform(shape, lo, hi, DType::F64);
}
/// Normal values moved at least `margin` away from `kink` (keeps finite differences off kinks).
Tensor away_from(const Tensor& x, double kink, double margin) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = e >= kink ? std::max(e, kink + margin) : std::min(e, kink - margin);
  return Tensor::from_vector(v, x.shape(), DType::F64);
}
Fn unary(Variable (*op)(const Variable&)) {
  return [op](const std::vector<Variable>& v) { return op(v[0]); };
}

}  // namespace

TEST_CASE("elementwise binary ops pass gradcheck, same shapes", "[autograd][elementwise]") {
  const Tensor a = randn64({2, 3}, 1), b = randn64({2, 3}, 2);
  const Tensor pos = uniform64({2, 3}, 0.5, 2.0, 3), pos2 = uniform64({2, 3}, 0.5, 2.0, 4);
  CHECK_GRADCHECK("add", [](const std::vector<Variable>& v) { return add(v[0], v[1]); }, {a, b});
  CHECK_GRADCHECK("sub", [](const std::vector<Variable>& v) { return sub(v[0], v[1]); }, {a, b});
  CHECK_GRADCHECK("mul", [](const std::vector<Variable>& v) { return mul(v[0], v[1]); }, {a, b});
  CHECK_GRADCHECK("div", [](const std::vector<Variable>& v) { return div(v[0], v[1]); }, {a, pos});
  CHECK_GRADCHECK("pow", [](const std::vector<Variable>& v) { return pow(v[0], v[1]); }, {pos, b});
  CHECK_GRADCHECK("pow", [](const std::vector<Variable>& v) { return pow(v[0], v[1]); }, {pos, pos2});
  // maximum/minimum: b = a + d with |d| >= 0.2, far from the tie a == b.
  const Tensor b_far = add(a, away_from(randn64({2, 3}, 5), 0.0, 0.2));
  CHECK_GRADCHECK("maximum", [](const std::vector<Variable>& v) { return maximum(v[0], v[1]); }, {a, b_far});
  CHECK_GRADCHECK("minimum", [](const std::vector<Variable>& v) { return minimum(v[0], v[1]); }, {a, b_far});
}

TEST_CASE("elementwise binary ops broadcast and sum gradients back", "[autograd][elementwise]") {
  // (3, 1) * (1, 4) -> (3, 4)
  CHECK_GRADCHECK("mul", [](const std::vector<Variable>& v) { return mul(v[0], v[1]); },
                  {randn64({3, 1}, 6), randn64({1, 4}, 7)});
  // (B, C, H, W) + (C, 1, 1)
  CHECK_GRADCHECK("add", [](const std::vector<Variable>& v) { return add(v[0], v[1]); },
                  {randn64({2, 3, 2, 2}, 8), randn64({3, 1, 1}, 9)});
  CHECK_GRADCHECK("sub", [](const std::vector<Variable>& v) { return sub(v[0], v[1]); },
                  {randn64({4}, 10), randn64({2, 1}, 11)});
  CHECK_GRADCHECK("div", [](const std::vector<Variable>& v) { return div(v[0], v[1]); },
                  {randn64({2, 3}, 12), uniform64({3}, 0.5, 2.0, 13)});
  CHECK_GRADCHECK("pow", [](const std::vector<Variable>& v) { return pow(v[0], v[1]); },
                  {uniform64({2, 1}, 0.5, 2.0, 14), randn64({1, 3}, 15)});
  const Tensor a = randn64({3, 1}, 16);
  const Tensor b = add(a.expand({3, 4}), away_from(randn64({3, 4}, 17), 0.0, 0.2));  // (3, 4), no ties
  CHECK_GRADCHECK("maximum", [](const std::vector<Variable>& v) { return maximum(v[0], v[1]); }, {a, b});
  CHECK_GRADCHECK("minimum", [](const std::vector<Variable>& v) { return minimum(v[0], v[1]); }, {b, a});
  // where: cond (2, 1) broadcasts against a (2, 3) and b (3)
  const Tensor cond = Tensor::from_vector({1, 0}, {2, 1}, DType::F64);
  CHECK_GRADCHECK("where", [cond](const std::vector<Variable>& v) { return where(cond, v[0], v[1]); },
                  {randn64({2, 3}, 18), randn64({3}, 19)});
}

TEST_CASE("elementwise ops accept non-contiguous inputs", "[autograd][elementwise]") {
  const Tensor t = randn64({4, 3}, 20).transpose(0, 1);                // (3, 4), strides (1, 3)
  const Tensor s = randn64({3, 8}, 21).slice(1, 0, 8, 2);              // (3, 4), strides (8, 2)
  const Tensor p = uniform64({3, 8}, 0.5, 2.0, 22).slice(1, 1, 8, 2);  // positive, strided
  REQUIRE_FALSE(t.is_contiguous());
  REQUIRE_FALSE(s.is_contiguous());
  CHECK_GRADCHECK("mul", [](const std::vector<Variable>& v) { return mul(v[0], v[1]); }, {t, s});
  CHECK_GRADCHECK("div", [](const std::vector<Variable>& v) { return div(v[0], v[1]); }, {t, p});
  CHECK_GRADCHECK("tanh", unary(tanh), {t});
  CHECK_GRADCHECK("gelu_erf", unary(gelu_erf), {s});
  CHECK_GRADCHECK("silu", unary(silu), {t});
  CHECK_GRADCHECK("log", unary(log), {p});
}

TEST_CASE("elementwise unary ops pass gradcheck", "[autograd][elementwise]") {
  const Tensor x = randn64({2, 5}, 23);
  const Tensor pos = uniform64({2, 5}, 0.3, 3.0, 24);
  const Tensor off0 = away_from(x, 0.0, 0.1);  // |x| >= 0.1: relu and abs are smooth there
  CHECK_GRADCHECK("neg", unary(neg), {x});
  CHECK_GRADCHECK("exp", unary(exp), {x});
  CHECK_GRADCHECK("log", unary(log), {pos});
  CHECK_GRADCHECK("sqrt", unary(sqrt), {pos});
  CHECK_GRADCHECK("rsqrt", unary(rsqrt), {pos});
  CHECK_GRADCHECK("abs", unary(abs), {off0});
  CHECK_GRADCHECK("square", unary(square), {x});
  CHECK_GRADCHECK("sin", unary(sin), {x});
  CHECK_GRADCHECK("cos", unary(cos), {x});
  CHECK_GRADCHECK("tanh", unary(tanh), {x});
  CHECK_GRADCHECK("sigmoid", unary(sigmoid), {x});
  CHECK_GRADCHECK("relu", unary(relu), {off0});
  CHECK_GRADCHECK("silu", unary(silu), {mul(x, 3.0)});  // spread out over the curved part
  CHECK_GRADCHECK("gelu_erf", unary(gelu_erf), {mul(x, 3.0)});
  CHECK_GRADCHECK("gelu_tanh", unary(gelu_tanh), {mul(x, 3.0)});
  // clamp to [-0.5, 0.8]: keep x at least 0.1 from both limits
  const Tensor c = away_from(away_from(x, -0.5, 0.1), 0.8, 0.1);
  CHECK_GRADCHECK("clamp", [](const std::vector<Variable>& v) { return clamp(v[0], -0.5, 0.8); }, {c});
}

TEST_CASE("elementwise scalar overloads and operators pass gradcheck", "[autograd][elementwise]") {
  const Tensor x = randn64({3, 2}, 25);
  const Tensor pos = uniform64({3, 2}, 0.5, 2.0, 26);
  CHECK_GRADCHECK("add_s", [](const std::vector<Variable>& v) { return add(v[0], 1.5) * add(-2.0, v[0]); }, {x});
  CHECK_GRADCHECK("sub_s", [](const std::vector<Variable>& v) { return sub(v[0], 1.5) * sub(2.0, v[0]); }, {x});
  CHECK_GRADCHECK("mul_s", [](const std::vector<Variable>& v) { return mul(v[0], 1.5) * mul(-3.0, v[0]); }, {x});
  CHECK_GRADCHECK("div_s", [](const std::vector<Variable>& v) { return div(v[0], 4.0) + div(-3.0, v[0]); }, {pos});
  CHECK_GRADCHECK("pow_s", [](const std::vector<Variable>& v) { return pow(v[0], 2.5) + pow(v[0], -1.5); }, {pos});
  CHECK_GRADCHECK("pow_s", [](const std::vector<Variable>& v) { return pow(v[0], 3.0); }, {x});
  CHECK_GRADCHECK("operators",
                  [](const std::vector<Variable>& v) {
                    const Variable& a = v[0];
                    const Variable& b = v[1];
                    return (a + b) * (a - 2.0) / (1.5 + b * b) - (-a) + 3.0 * a - a / 2.0 + (1.0 - b) +
                           2.0 / (b * b + 1.0);
                  },
                  {x, pos});
}

TEST_CASE("elementwise forward values match the tensor library", "[autograd][elementwise]") {
  const Tensor xv = Tensor::from_vector({1.0, 2.0, -4.0}, {3}, DType::F64);
  const Variable x(xv);
  CHECK((x + 2.0).value().to_vector() == std::vector<double>{3.0, 4.0, -2.0});
  CHECK((2.0 - x).value().to_vector() == std::vector<double>{1.0, 0.0, 6.0});
  CHECK((8.0 / x).value().to_vector() == std::vector<double>{8.0, 4.0, -2.0});
  CHECK((-x).value().to_vector() == std::vector<double>{-1.0, -2.0, 4.0});
  CHECK(pow(x, 2.0).value().to_vector() == std::vector<double>{1.0, 4.0, 16.0});
  CHECK(max_abs_diff(gelu_tanh(x).value(), gelu_tanh(xv)) == 0.0);
  CHECK(clamp(x, -1.0, 1.5).value().to_vector() == std::vector<double>{1.0, 1.5, -1.0});
}

TEST_CASE("elementwise gradients at kinks and ties follow PyTorch", "[autograd][elementwise]") {
  // relu'(0) = 0, abs'(0) = 0; clamp passes the gradient at its limits (inclusive).
  Variable x(Tensor::from_vector({-1.0, 0.0, 2.0}, {3}, DType::F64), true);
  sum(relu(x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 0.0, 1.0});
  x.zero_grad();
  sum(abs(x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{-1.0, 0.0, 1.0});
  x.zero_grad();
  sum(clamp(x, 0.0, 2.0)).backward();  // x = -1 is outside; 0 and 2 are the limits
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 1.0, 1.0});
  // maximum/minimum ties: each operand gets half
  Variable a(Tensor::from_vector({1.0, 2.0, 3.0}, {3}, DType::F64), true);
  Variable b(Tensor::from_vector({1.0, 0.0, 5.0}, {3}, DType::F64), true);
  sum(maximum(a, b)).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{0.5, 1.0, 0.0});
  CHECK(b.grad().to_vector() == std::vector<double>{0.5, 0.0, 1.0});
  a.zero_grad();
  b.zero_grad();
  sum(minimum(a, b)).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{0.5, 0.0, 1.0});
  CHECK(b.grad().to_vector() == std::vector<double>{0.5, 1.0, 0.0});
  // pow(x, 0) has gradient 0 everywhere, also at x = 0
  x.zero_grad();
  sum(pow(x, 0.0)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 0.0, 0.0});
}

TEST_CASE("elementwise binary ops save only what the other input's gradient needs", "[autograd][elementwise]") {
  // mul(a, b) with only a requiring a gradient needs b (a_bar = g b) but not a.
  const Tensor av = Tensor::ones({4}, DType::F64), bv = Tensor::full({4}, 3.0, DType::F64);
  Variable a(av, true), b(bv);
  const long a_uses = av.storage().use_count(), b_uses = bv.storage().use_count();
  Variable y = mul(a, b);
  CHECK(av.storage().use_count() == a_uses);      // a not captured
  CHECK(bv.storage().use_count() == b_uses + 1);  // b captured once
  sum(y).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{3.0, 3.0, 3.0, 3.0});
  CHECK_FALSE(b.has_grad());
  CHECK(bv.storage().use_count() == b_uses);  // released by backward
}

TEST_CASE("elementwise ops reject mixed dtypes and bad shapes", "[autograd][elementwise]") {
  Variable f32(Tensor::ones({2, 3}), true);
  Variable f64(Tensor::ones({2, 3}, DType::F64), true);
  CHECK_THROWS_WITH(f32 + f64, Catch::Contains("add") && Catch::Contains("float32") && Catch::Contains("float64"));
  CHECK_THROWS_WITH(mul(f64, f32), Catch::Contains("mul: operands have different dtypes"));
  CHECK_THROWS_WITH(where(Tensor::ones({2, 3}, DType::F64), f32, f64), Catch::Contains("where"));
  Variable other(Tensor::ones({4, 3}, DType::F64), true);
  CHECK_THROWS_WITH(f64 * other, Catch::Contains("mul") && Catch::Contains("(2, 3)") && Catch::Contains("(4, 3)"));
  Variable ids(Tensor::from_indices({1, 2}, {2}));
  CHECK_THROWS_WITH(exp(ids), Catch::Contains("exp") && Catch::Contains("int64"));
}

TEST_CASE("elementwise compositions pass gradcheck", "[autograd][elementwise]") {
  // A small MLP-like block with a residual and a gate: x (4, 3), w (3), b (1, 3)
  CHECK_GRADCHECK("composite",
                  [](const std::vector<Variable>& v) {
                    const Variable h = silu(v[0] * v[1] + v[2]);
                    return h * sigmoid(v[0]) + tanh(h) * 0.5 + v[0];
                  },
                  {randn64({4, 3}, 27), randn64({3}, 28), randn64({1, 3}, 29)});
  // A normalisation-like expression: (x - m) * rsqrt(s^2 + 1e-2)
  CHECK_GRADCHECK("normalise",
                  [](const std::vector<Variable>& v) { return (v[0] - v[1]) * rsqrt(square(v[2]) + 1e-2); },
                  {randn64({2, 4}, 30), randn64({2, 1}, 31), randn64({2, 1}, 32)});
}

TEST_CASE("elementwise float32 gradients agree with float64 ones", "[autograd][elementwise]") {
  // The same composite in both dtypes. Values are O(1) and the graph is a dozen ops deep, so
  // float32 (unit roundoff 6e-8) agrees with float64 to about 1e-6; we allow 1e-5 + 1e-4 |g64|.
  const Tensor x64 = randn64({3, 4}, 33), w64 = randn64({4}, 34), b64 = randn64({1, 4}, 35);
  auto grads = [](DType dt, const Tensor& x0, const Tensor& w0, const Tensor& b0) {
    Variable x(x0.to(dt), true), w(w0.to(dt), true), b(b0.to(dt), true);
    Variable h = gelu_tanh(x * w + b);
    Variable loss = sum(square(h) * sigmoid(x) + exp(-abs(h)) / (1.0 + w * w));
    loss.backward();
    return std::vector<Tensor>{x.grad().to(DType::F64), w.grad().to(DType::F64), b.grad().to(DType::F64)};
  };
  const auto g32 = grads(DType::F32, x64, w64, b64);
  const auto g64 = grads(DType::F64, x64, w64, b64);
  for (size_t i = 0; i < 3; ++i) {
    INFO("input " << i << ": max |g32 - g64| = " << max_abs_diff(g32[i], g64[i]));
    CHECK(allclose(g32[i], g64[i], /*rtol=*/1e-4, /*atol=*/1e-5));
  }
}
