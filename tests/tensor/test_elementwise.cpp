// Tests of the broadcasting elementwise kernels: hand-computed values (float32 and float64),
// broadcasting, strided views against their contiguous copies, a large tensor (threads)
// against a serial loop, in-place updates, whole-tensor checks and the error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "tensor/tensor.h"
#include "test_util.h"

using namespace tinydiff;
using namespace tinydiff::test;

namespace {

// Largest |a_i - b_i| of two equally long value lists (independent of the kernels under test).
double vec_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    const double d = std::abs(a[i] - b[i]);
    if (!(d <= m)) m = d;  // NaN makes the result NaN
  }
  return m;
}

// Naive reference: out[idx] = f(a[idx_a], b[idx_b]) through Tensor::at, broadcasting by hand.
Tensor naive_binary(const Tensor& a, const Tensor& b, const Shape& out_shape,
                    const std::function<double(double, double)>& f) {
  Tensor out = Tensor::zeros(out_shape, DType::F64);
  const int64_t nd = static_cast<int64_t>(out_shape.size());
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  auto pick = [&](const Tensor& t) {
    std::vector<int64_t> i(static_cast<size_t>(t.dim()));
    for (int64_t d = 0; d < t.dim(); ++d) {
      const int64_t od = d + nd - t.dim();
      i[d] = t.shape()[d] == 1 ? 0 : idx[od];
    }
    return t.at(i);
  };
  for (int64_t n = 0; n < out.numel(); ++n) {
    int64_t rem = n;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % out_shape[d];
      rem /= out_shape[d];
    }
    out.set(idx, f(pick(a), pick(b)));
  }
  return out;
}

std::vector<double> values(std::initializer_list<double> v) { return v; }

}  // namespace

TEST_CASE("broadcast_shapes aligns trailing axes and names the failing axis", "[elementwise]") {
  CHECK(broadcast_shapes({2, 3, 4, 5}, {3, 1, 1}) == Shape{2, 3, 4, 5});
  CHECK(broadcast_shapes({3, 1}, {1, 4}) == Shape{3, 4});
  CHECK(broadcast_shapes({}, {2, 3}) == Shape{2, 3});
  CHECK(broadcast_shapes({0, 3}, {1, 3}) == Shape{0, 3});
  CHECK_THROWS_WITH(broadcast_shapes({4, 3}, {2, 3}, "add"),
                    Catch::Contains("add: cannot broadcast (4, 3) with (2, 3): axis -2 has extents 4 and 2"));
  CHECK_THROWS_WITH(add(Tensor::zeros({4, 3}), Tensor::zeros({2, 3})),
                    Catch::Contains("add: cannot broadcast (4, 3) with (2, 3): axis -2 has extents 4 and 2"));
  CHECK_THROWS_WITH(mul(Tensor::zeros({5}), Tensor::zeros({2, 3})),
                    Catch::Contains("mul: cannot broadcast (5,) with (2, 3): axis -1 has extents 5 and 3"));
}

TEST_CASE("binary ops give hand-computed values in float32 and float64", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dt);
    const Tensor b = Tensor::from_vector({2, 0.5, -1, 3}, {2, 2}, dt);
    CHECK(add(a, b).dtype() == dt);
    CHECK(add(a, b).shape() == Shape{2, 2});
    CHECK(add(a, b).to_vector() == values({3, 2.5, 2, 7}));
    CHECK(sub(a, b).to_vector() == values({-1, 1.5, 4, 1}));
    CHECK(mul(a, b).to_vector() == values({2, 1, -3, 12}));
    const auto q = div(a, b).to_vector();
    CHECK(q[0] == 0.5);
    CHECK(q[1] == 4.0);
    CHECK(q[2] == -3.0);
    CHECK(q[3] == Approx(4.0 / 3.0).epsilon(1e-6));
    const auto p = pow(a, b).to_vector();  // 1^2, 2^0.5, 3^-1, 4^3
    CHECK(p[0] == 1.0);
    CHECK(p[1] == Approx(std::sqrt(2.0)).epsilon(1e-6));
    CHECK(p[2] == Approx(1.0 / 3.0).epsilon(1e-6));
    CHECK(p[3] == 64.0);
    CHECK(maximum(a, b).to_vector() == values({2, 2, 3, 4}));
    CHECK(minimum(a, b).to_vector() == values({1, 0.5, -1, 3}));
    // Operators are the same functions.
    CHECK((a + b).to_vector() == add(a, b).to_vector());
    CHECK((a - b).to_vector() == sub(a, b).to_vector());
    CHECK((a * b).to_vector() == mul(a, b).to_vector());
    CHECK((a / b).to_vector() == div(a, b).to_vector());
    CHECK((-a).to_vector() == values({-1, -2, -3, -4}));
  }
}

TEST_CASE("maximum and minimum propagate NaN", "[elementwise]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : kFloatTypes) {
    const Tensor a = Tensor::from_vector({nan, 1, 2}, {3}, dt);
    const Tensor b = Tensor::from_vector({0, nan, 1}, {3}, dt);
    for (const Tensor& r : {maximum(a, b), minimum(a, b), maximum(b, a), minimum(b, a)}) {
      CHECK(std::isnan(r.at({0})));
      CHECK(std::isnan(r.at({1})));
    }
    CHECK(maximum(a, b).at({2}) == 2.0);
    CHECK(minimum(a, b).at({2}) == 1.0);
  }
}

TEST_CASE("ops with a scalar", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor a = Tensor::from_vector({1, 2, 4}, {3}, dt);
    CHECK(add(a, 2.0).to_vector() == values({3, 4, 6}));
    CHECK(sub(a, 2.0).to_vector() == values({-1, 0, 2}));
    CHECK(sub(2.0, a).to_vector() == values({1, 0, -2}));
    CHECK(mul(a, -3.0).to_vector() == values({-3, -6, -12}));
    CHECK(div(a, 4.0).to_vector() == values({0.25, 0.5, 1}));
    CHECK(div(8.0, a).to_vector() == values({8, 4, 2}));
    CHECK(pow(a, 2.0).to_vector() == values({1, 4, 16}));
    CHECK(pow(a, 1.0).to_vector() == values({1, 2, 4}));
    CHECK(pow(a, 3.0).to_vector() == values({1, 8, 64}));
    const auto h = pow(a, 0.5).to_vector();
    CHECK(h[0] == 1.0);
    CHECK(h[1] == Approx(std::sqrt(2.0)).epsilon(1e-6));
    CHECK(h[2] == 2.0);
    CHECK((a * 2.0 + 1.0).to_vector() == values({3, 5, 9}));
    CHECK((2.0 * a - 1.0).to_vector() == values({1, 3, 7}));
    CHECK((1.0 + a).to_vector() == values({2, 3, 5}));
    CHECK((1.0 - a).to_vector() == values({0, -1, -3}));
    CHECK((a / 2.0).to_vector() == values({0.5, 1, 2}));
    CHECK((4.0 / a).to_vector() == values({4, 2, 1}));
    CHECK(add(a, 1.0).dtype() == dt);
  }
}

TEST_CASE("unary maths gives hand-computed values in float32 and float64", "[elementwise]") {
  const double pi = 3.14159265358979323846;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const double eps = dt == DType::F32 ? 2e-6 : 1e-13;  // relative tolerance
    auto one = [&](Tensor (*f)(const Tensor&), double x) {
      const Tensor r = f(Tensor::from_vector({x}, {1}, dt));
      CHECK(r.dtype() == dt);
      return r.item();
    };
    CHECK(one(neg, 2.5) == -2.5);
    CHECK(one(exp, 0.0) == 1.0);
    CHECK(one(exp, 1.0) == Approx(std::exp(1.0)).epsilon(eps));
    CHECK(one(exp, -2.0) == Approx(std::exp(-2.0)).epsilon(eps));
    CHECK(one(log, 1.0) == 0.0);
    CHECK(one(log, 10.0) == Approx(2.302585092994046).epsilon(eps));
    CHECK(one(sqrt, 16.0) == 4.0);
    CHECK(one(sqrt, 2.0) == Approx(1.4142135623730951).epsilon(eps));
    CHECK(one(rsqrt, 4.0) == 0.5);
    CHECK(one(rsqrt, 2.0) == Approx(0.7071067811865476).epsilon(eps));
    CHECK(one(abs, -3.0) == 3.0);
    CHECK(one(abs, 3.0) == 3.0);
    CHECK(one(square, -3.0) == 9.0);
    CHECK(one(sin, pi / 2) == Approx(1.0).epsilon(eps));
    CHECK(one(sin, pi / 6) == Approx(0.5).epsilon(eps));
    CHECK(one(cos, 0.0) == 1.0);
    CHECK(one(cos, pi / 3) == Approx(0.5).epsilon(eps));
    CHECK(one(tanh, 0.5) == Approx(0.46211715726000974).epsilon(eps));
    CHECK(one(sigmoid, 0.0) == 0.5);
    CHECK(one(sigmoid, 2.0) == Approx(0.8807970779778823).epsilon(eps));
    CHECK(one(sigmoid, -2.0) == Approx(0.11920292202211755).epsilon(eps));
    CHECK(one(relu, -1.5) == 0.0);
    CHECK(one(relu, 1.5) == 1.5);
    CHECK(one(silu, 1.0) == Approx(0.7310585786300049).epsilon(eps));
    CHECK(one(silu, -1.0) == Approx(-0.2689414213699951).epsilon(eps));
    CHECK(one(silu, 2.0) == Approx(1.7615941559557646).epsilon(eps));
    CHECK(one(gelu_erf, 1.0) == Approx(0.8413447460685429).epsilon(eps));
    CHECK(one(gelu_erf, -1.0) == Approx(-0.15865525393145707).epsilon(eps));
    CHECK(one(gelu_erf, 2.0) == Approx(1.9544997361036416).epsilon(eps));
    CHECK(one(gelu_tanh, 1.0) == Approx(0.8411919906082768).epsilon(eps));
    CHECK(one(gelu_tanh, -1.0) == Approx(-0.15880800939172324).epsilon(eps));
    CHECK(one(gelu_tanh, 2.0) == Approx(1.954597694087775).epsilon(eps));
    CHECK(one(gelu_erf, 0.0) == 0.0);
    const Tensor c = clamp(Tensor::from_vector({-5, -1, 0.5, 3, 9}, {5}, dt), -1.0, 3.0);
    CHECK(c.to_vector() == values({-1, -1, 0.5, 3, 3}));
  }
}

TEST_CASE("sigmoid and silu stay finite and accurate for large |x|", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    const Tensor x = Tensor::from_vector({-1000, -100, -30, 30, 100, 1000}, {6}, dt);
    const Tensor s = sigmoid(x);
    CHECK(all_finite(s));
    CHECK(s.at({0}) == 0.0);
    CHECK(s.at({4}) == 1.0);
    CHECK(s.at({5}) == 1.0);
    // sigma(-30) = e^-30 / (1 + e^-30): relative accuracy, not just absolute.
    CHECK(s.at({2}) == Approx(9.357622968839299e-14).epsilon(dt == DType::F32 ? 1e-6 : 1e-13));
    if (dt == DType::F64) CHECK(s.at({1}) == Approx(3.7200759760208356e-44).epsilon(1e-12));
    const Tensor y = silu(x);
    CHECK(all_finite(y));
    CHECK(y.at({0}) == 0.0);  // -1000 * 0, not -1000 * NaN
    CHECK(y.at({5}) == 1000.0);
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(relu(Tensor::from_vector({nan}, {1})).item()));
  CHECK(std::isnan(clamp(Tensor::from_vector({nan}, {1}), 0, 1).item()));
}

TEST_CASE("comparisons return 1/0 in the operands' dtype and where selects", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor a = Tensor::from_vector({1, 2, 3}, {3}, dt);
    const Tensor b = Tensor::from_vector({2, 2, 2}, {3}, dt);
    CHECK(eq(a, b).dtype() == dt);
    CHECK(eq(a, b).to_vector() == values({0, 1, 0}));
    CHECK(ne(a, b).to_vector() == values({1, 0, 1}));
    CHECK(lt(a, b).to_vector() == values({1, 0, 0}));
    CHECK(le(a, b).to_vector() == values({1, 1, 0}));
    CHECK(gt(a, b).to_vector() == values({0, 0, 1}));
    CHECK(ge(a, b).to_vector() == values({0, 1, 1}));
    CHECK(gt(a, 1.5).to_vector() == values({0, 1, 1}));
    CHECK(lt(a, 1.5).to_vector() == values({1, 0, 0}));
    // Broadcast comparison: (3, 1) against (3,) -> (3, 3).
    CHECK(lt(a.reshape({3, 1}), a).to_vector() == values({0, 1, 1, 0, 0, 1, 0, 0, 0}));
    // where with all three broadcast: cond (3, 1), a (1, 4), b a 0-d scalar -> (3, 4).
    const Tensor cond = Tensor::from_vector({1, 0, 1}, {3, 1}, dt);
    const Tensor x = Tensor::from_vector({10, 20, 30, 40}, {1, 4}, dt);
    const Tensor w = where(cond, x, Tensor::scalar(-1, dt));
    CHECK(w.shape() == Shape{3, 4});
    CHECK(w.to_vector() == values({10, 20, 30, 40, -1, -1, -1, -1, 10, 20, 30, 40}));
    CHECK(where(gt(a, b), a, b).to_vector() == values({2, 2, 3}));
  }
  CHECK_THROWS_WITH(where(Tensor::ones({3}, DType::F64), Tensor::ones({3}), Tensor::ones({3})),
                    Catch::Contains("where: operands have different dtypes: float64 (3,) and float32 (3,)"));
}

TEST_CASE("broadcasting: per-channel bias, outer product, scalar", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // (B, C, H, W) + (C, 1, 1): one value per channel.
    const Tensor x = random_tensor({2, 3, 4, 5}, dt, 1);
    const Tensor bias = Tensor::from_vector({10, 20, 30}, {3, 1, 1}, dt);
    const Tensor y = add(x, bias);
    CHECK(y.shape() == Shape{2, 3, 4, 5});
    CHECK(y.at({1, 2, 3, 4}) == Approx(x.at({1, 2, 3, 4}) + 30).epsilon(1e-6));
    CHECK(vec_diff(y.to_vector(), naive_binary(x, bias, {2, 3, 4, 5}, std::plus<>{}).to_vector()) < 1e-5);
    // (3, 1) * (1, 4): an outer product.
    const Tensor u = Tensor::from_vector({1, 2, 3}, {3, 1}, dt);
    const Tensor v = Tensor::from_vector({1, 10, 100, 1000}, {1, 4}, dt);
    CHECK(mul(u, v).to_vector() == values({1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000}));
    CHECK(sub(v, u).to_vector() == values({0, 9, 99, 999, -1, 8, 98, 998, -2, 7, 97, 997}));
    // A 0-d scalar and a (1,) tensor broadcast against anything.
    const Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
    CHECK(mul(m, Tensor::scalar(2, dt)).to_vector() == values({2, 4, 6, 8, 10, 12}));
    CHECK(sub(Tensor::full({1}, 10, dt), m).to_vector() == values({9, 8, 7, 6, 5, 4}));
    CHECK(add(Tensor::scalar(1, dt), Tensor::scalar(2, dt)).shape() == Shape{});
    CHECK(add(Tensor::scalar(1, dt), Tensor::scalar(2, dt)).item() == 3.0);
    // Both sides broadcast: (3, 1) + (4,) -> (3, 4); (2, 1, 3) + (4, 1) -> (2, 4, 3).
    CHECK(vec_diff(add(u, v.reshape({4})).to_vector(),
                   naive_binary(u, v.reshape({4}), {3, 4}, std::plus<>{}).to_vector()) == 0.0);
    const Tensor p = random_tensor({2, 1, 3}, dt, 2), q = random_tensor({4, 1}, dt, 3);
    CHECK(vec_diff(div(p, q).to_vector(), naive_binary(p, q, {2, 4, 3}, std::divides<>{}).to_vector()) < 1e-5);
    // Empty tensors broadcast to empty results.
    CHECK(add(Tensor::zeros({0, 3}, dt), Tensor::ones({1, 3}, dt)).shape() == Shape{0, 3});
  }
}

TEST_CASE("strided views give the same results as their contiguous copies", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor base = random_tensor({6, 8, 5}, dt, 4);
    const Tensor other = random_tensor({8, 6, 5}, dt, 5);
    std::vector<std::pair<Tensor, Tensor>> cases = {
        {base.transpose(0, 1), other},                                              // (8, 6, 5) transposed
        {base.slice(1, 1, 8, 3).transpose(0, 2), random_tensor({5, 3, 6}, dt, 6)},  // sliced with step, transposed
        {base.permute({2, 0, 1}), other.permute({2, 1, 0})},                        // both permuted
        {Tensor::from_vector({1, 2, 3}, {3, 1}, dt).expand({3, 7}), random_tensor({7}, dt, 7)},  // expanded
        {base.slice(2, 4, 5).expand({6, 8, 9}), base.slice(2, 0, 1).transpose(0, 1).transpose(0, 1)},
    };
    for (const auto& [a, b] : cases) {
      INFO("a " << shape_str(a.shape()) << " strides " << shape_str(a.strides()));
      const Tensor ac = a.contiguous(), bc = b.contiguous();
      CHECK(add(a, b).to_vector() == add(ac, bc).to_vector());
      CHECK(mul(b, a).to_vector() == mul(bc, ac).to_vector());
      CHECK(maximum(a, b).to_vector() == maximum(ac, bc).to_vector());
      CHECK(where(gt(a, b), a, b).to_vector() == where(gt(ac, bc), ac, bc).to_vector());
      CHECK(exp(a).to_vector() == exp(ac).to_vector());
      CHECK(gelu_tanh(a).to_vector() == gelu_tanh(ac).to_vector());
      CHECK(vec_diff(sub(a, b).to_vector(), naive_binary(a, b, add(a, b).shape(), std::minus<>{}).to_vector()) < 1e-6);
    }
  }
}

TEST_CASE("unary ops agree between float32 and float64 on random data", "[elementwise]") {
  // Tolerance: float32 has 24-bit mantissas, so results agree to a few 1e-7 relative; the
  // check allows 2e-6 * max(1, |y|).
  const Tensor x64 = random_tensor({4, 37, 11}, DType::F64, 8, -4, 4);
  const Tensor x32 = x64.to(DType::F32);
  const Tensor pos64 = add(abs(x64), 0.1), pos32 = pos64.to(DType::F32);
  using Fn = Tensor (*)(const Tensor&);
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"exp", exp},         {"sin", sin},   {"cos", cos},           {"tanh", tanh},
      {"sigmoid", sigmoid}, {"silu", silu}, {"gelu_erf", gelu_erf}, {"gelu_tanh", gelu_tanh},
      {"square", square},   {"relu", relu}, {"abs", abs},           {"neg", neg}};
  for (const auto& [name, f] : fns) {
    INFO(name);
    const auto a = f(x32).to_vector(), b = f(x64).to_vector();
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 2e-6 * std::max(1.0, std::abs(b[i])));
  }
  for (const auto& [name, f] :
       std::vector<std::pair<const char*, Fn>>{{"log", log}, {"sqrt", sqrt}, {"rsqrt", rsqrt}}) {
    INFO(name);
    const auto a = f(pos32).to_vector(), b = f(pos64).to_vector();
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 2e-6 * std::max(1.0, std::abs(b[i])));
  }
  CHECK(max_abs_diff(pow(pos32, x32), pow(pos64, x64)) < 1e-3);  // values up to ~4^4
}

TEST_CASE("a large tensor (threads) matches a serial loop", "[elementwise]") {
  // 999 x 1001 (about 1e6 elements): thread chunks start in the middle of rows.
  const Tensor a = random_tensor({999, 1001}, DType::F32, 9);
  const Tensor bt = random_tensor({1001, 999}, DType::F32, 10).transpose(0, 1);  // strided
  const Tensor col = random_tensor({999, 1}, DType::F32, 11);
  const float* pa = a.data<float>();
  const float* pb = bt.data<float>();  // element (i, j) at pb[j * 999 + i]
  const float* pc = col.data<float>();
  // Contiguous fast path.
  const Tensor e = exp(a);
  const Tensor s = add(a, a);
  // General path: a strided operand and a broadcast column.
  const Tensor g = sub(mul(a, bt), col);
  int64_t bad_e = 0, bad_s = 0, bad_g = 0;
  for (int64_t i = 0; i < 999; ++i) {
    for (int64_t j = 0; j < 1001; ++j) {
      const int64_t k = i * 1001 + j;
      bad_e += e.data<float>()[k] != std::exp(pa[k]);
      bad_s += s.data<float>()[k] != pa[k] + pa[k];
      volatile float prod = pa[k] * pb[j * 999 + i];  // volatile: no fused multiply-add (mul and sub are two ops)
      bad_g += g.data<float>()[k] != prod - pc[i];
    }
  }
  CHECK(bad_e == 0);
  CHECK(bad_s == 0);
  CHECK(bad_g == 0);
  // In place through a strided view: d = base^T, d += 2 * col^T.
  Tensor base = a.clone();
  Tensor d = base.transpose(0, 1);  // (1001, 999)
  add_(d, col.reshape({999}), 2.0);
  int64_t bad_d = 0;
  for (int64_t i = 0; i < 999; ++i)
    for (int64_t j = 0; j < 1001; ++j) bad_d += base.data<float>()[i * 1001 + j] != pa[i * 1001 + j] + 2.0f * pc[i];
  CHECK(bad_d == 0);
}

TEST_CASE("add_ and mul_ update in place, also through strided views", "[elementwise]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    Tensor d = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
    const void* before = d.raw_data();
    add_(d, Tensor::from_vector({10, 20, 30}, {3}, dt));
    CHECK(d.raw_data() == before);
    CHECK(d.to_vector() == values({11, 22, 33, 14, 25, 36}));
    add_(d, Tensor::from_vector({1, 2}, {2, 1}, dt), -2.0);
    CHECK(d.to_vector() == values({9, 20, 31, 10, 21, 32}));
    add_(d, Tensor::scalar(0.5, dt), 2.0);
    CHECK(d.to_vector() == values({10, 21, 32, 11, 22, 33}));
    mul_(d, 0.5);
    CHECK(d.to_vector() == values({5, 10.5, 16, 5.5, 11, 16.5}));
    // A view: every other column of a (3, 4) tensor, transposed -> (2, 3); the rest is untouched.
    Tensor base = Tensor::zeros({3, 4}, dt);
    Tensor v = base.slice(1, 0, 4, 2).transpose(0, 1);
    add_(v, Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt));
    CHECK(base.to_vector() == values({1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6, 0}));
    mul_(v, 10.0);
    CHECK(base.to_vector() == values({10, 0, 40, 0, 20, 0, 50, 0, 30, 0, 60, 0}));
    // Adding a tensor to itself.
    Tensor self = Tensor::from_vector({1, 2}, {2}, dt);
    add_(self, self);
    CHECK(self.to_vector() == values({2, 4}));
  }
  Tensor d = Tensor::zeros({3});
  CHECK_THROWS_WITH(add_(d, Tensor::zeros({2, 3})),
                    Catch::Contains("add_: the source (2, 3) does not broadcast to the destination (3,)"));
  CHECK_THROWS_WITH(add_(d, Tensor::zeros({3}, DType::F64)),
                    Catch::Contains("add_: operands have different dtypes: float32 (3,) and float64 (3,)"));
  Tensor e = Tensor::zeros({1, 3}).expand({4, 3});
  CHECK_THROWS_WITH(add_(e, Tensor::ones({4, 3})), Catch::Contains("add_: the destination (4, 3) with strides (0, 1)"));
  CHECK_THROWS_WITH(mul_(e, 2.0), Catch::Contains("mul_: the destination (4, 3)"));
}

TEST_CASE("all_finite, max_abs_diff and allclose", "[elementwise]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    CHECK(all_finite(Tensor::from_vector({1, -2, 1e30}, {3}, dt)));
    CHECK_FALSE(all_finite(Tensor::from_vector({1, nan, 3}, {3}, dt)));
    CHECK_FALSE(all_finite(Tensor::from_vector({1, 2, -inf}, {3}, dt)));
    // Only the viewed elements count: the NaN sits in a column the slice skips.
    const Tensor m = Tensor::from_vector({1, nan, 3, 4}, {2, 2}, dt);
    CHECK(all_finite(m.slice(1, 0, 1)));
    CHECK_FALSE(all_finite(m.transpose(0, 1)));
    // A large tensor with one infinity at the very end (block boundaries, threads).
    Tensor big = Tensor::zeros({1 << 20}, dt);
    CHECK(all_finite(big));
    big.set({(1 << 20) - 1}, inf);
    CHECK_FALSE(all_finite(big));

    const Tensor a = Tensor::from_vector({1, 2, 3}, {3}, dt);
    const Tensor b = Tensor::from_vector({1, 2.5, 2}, {3}, dt);
    CHECK(max_abs_diff(a, b) == 1.0);
    CHECK(max_abs_diff(a, a) == 0.0);
    CHECK(max_abs_diff(a.reshape({3, 1}), a) == 2.0);  // broadcast (3, 1) vs (3,)
    CHECK(max_abs_diff(Tensor::from_vector({inf, 1}, {2}, dt), Tensor::from_vector({inf, 1}, {2}, dt)) == 0.0);
    CHECK(std::isnan(max_abs_diff(Tensor::from_vector({1, nan, 2}, {3}, dt), a)));
    CHECK(allclose(a, add(a, 1e-9)));
    CHECK_FALSE(allclose(a, b));
    CHECK(allclose(a, b, 0.0, 1.0));  // |diff| <= 1
    CHECK_FALSE(allclose(a, b, 0.0, 0.9));
    CHECK(allclose(a, b, 0.5, 0.0));  // 0.5 <= 0.5 * 2.5 and 1 <= 0.5 * 2
    CHECK_FALSE(allclose(Tensor::from_vector({nan}, {1}, dt), Tensor::from_vector({nan}, {1}, dt)));
  }
  // Mixed dtypes are compared in double.
  const Tensor f = Tensor::from_vector({0.1}, {1}, DType::F32), g = Tensor::from_vector({0.1}, {1}, DType::F64);
  CHECK(max_abs_diff(f, g) == Approx(std::abs(static_cast<double>(0.1f) - 0.1)).epsilon(1e-9));
  CHECK(max_abs_diff(f, g) > 0.0);
  CHECK(allclose(f, g, 1e-6, 0.0));
  CHECK_FALSE(allclose(f, g, 1e-9, 0.0));
  CHECK_THROWS_WITH(max_abs_diff(Tensor::zeros({2}), Tensor::zeros({3})),
                    Catch::Contains("max_abs_diff: cannot broadcast (2,) with (3,)"));
}

TEST_CASE("elementwise errors name the op, the dtypes and the shapes", "[elementwise]") {
  const Tensor f32 = Tensor::zeros({2, 3}), f64 = Tensor::zeros({2, 3}, DType::F64);
  const Tensor idx = Tensor::from_indices({1, 2}, {2});
  CHECK_THROWS_WITH(add(f32, f64),
                    Catch::Contains("add: operands have different dtypes: float32 (2, 3) and float64 (2, 3)"));
  CHECK_THROWS_WITH(maximum(f64, f32), Catch::Contains("maximum: operands have different dtypes"));
  CHECK_THROWS_WITH(exp(idx), Catch::Contains("exp: expected a float32 or float64 tensor, got int64 with shape (2,)"));
  CHECK_THROWS_WITH(add(idx, 1.0), Catch::Contains("add: expected a float32 or float64 tensor, got int64"));
  CHECK_THROWS_WITH(mul(idx, idx), Catch::Contains("mul: expected a float32 or float64 tensor, got int64"));
  CHECK_THROWS_WITH(sigmoid(Tensor()), Catch::Contains("sigmoid: the tensor is undefined"));
  CHECK_THROWS_WITH(clamp(f32, 2.0, 1.0), Catch::Contains("clamp: lower bound 2 is above upper bound 1"));
  CHECK_THROWS_WITH(all_finite(idx), Catch::Contains("all_finite: expected a float32 or float64 tensor"));
}
