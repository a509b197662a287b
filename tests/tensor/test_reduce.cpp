// Tests of reductions, logsumexp and sum_to: hand-computed values (float32 and float64), every
// axis subset of a 4-d tensor against a naive double-precision reference, strided inputs, large
// tensors (threads, blocked rows and columns), accuracy of float32 sums, extreme logsumexp
// inputs and the error messages. Softmax: test_softmax.cpp.
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

std::vector<double> values(std::initializer_list<double> v) { return v; }

double vec_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    const double d = std::abs(a[i] - b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

// Naive reference: folds every element of x into its output slot in double, in row-major
// order, then applies finish(acc, count). Returns the output values (keepdim layout order).
std::vector<double> naive_reduce(const Tensor& x, const std::vector<int64_t>& axes, double init,
                                 const std::function<double(double, double)>& fold,
                                 const std::function<double(double, int64_t)>& finish) {
  const int64_t nd = x.dim();
  std::vector<bool> red(static_cast<size_t>(nd), axes.empty());
  for (int64_t a : axes) red[(a + nd) % nd] = true;
  Shape out_shape;
  int64_t count = 1;
  for (int64_t d = 0; d < nd; ++d) {
    if (red[d])
      count *= x.shape()[d];
    else
      out_shape.push_back(x.shape()[d]);
  }
  std::vector<double> acc(static_cast<size_t>(shape_numel(out_shape)), init);
  const std::vector<double> xv = x.to_vector();
  for (int64_t n = 0; n < x.numel(); ++n) {
    int64_t rem = n, o = 0, mult = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      const int64_t i = rem % x.shape()[d];
      rem /= x.shape()[d];
      if (!red[d]) {
        o += i * mult;
        mult *= x.shape()[d];
      }
    }
    acc[o] = fold(acc[o], xv[n]);
  }
  for (double& a : acc) a = finish(a, count);
  return acc;
}

}  // namespace

TEST_CASE("sum, mean, max, min give hand-computed values", "[reduce]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt);  // [[1, 2, 3], [4, 5, 6]]
    CHECK(sum(x).shape() == Shape{});
    CHECK(sum(x).dtype() == dt);
    CHECK(sum(x).item() == 21.0);
    CHECK(mean(x).item() == 3.5);
    CHECK(max(x).item() == 6.0);
    CHECK(min(x).item() == 1.0);
    CHECK(sum(x, {0}).shape() == Shape{3});
    CHECK(sum(x, {0}).to_vector() == values({5, 7, 9}));
    CHECK(sum(x, {1}).to_vector() == values({6, 15}));
    CHECK(sum(x, {-1}).to_vector() == values({6, 15}));
    CHECK(sum(x, {0, 1}).item() == 21.0);
    CHECK(sum(x, {-1, 0}).item() == 21.0);
    CHECK(sum(x, {0}, true).shape() == Shape{1, 3});
    CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
    CHECK(sum(x, {}, true).shape() == Shape{1, 1});
    CHECK(mean(x, {0}).to_vector() == values({2.5, 3.5, 4.5}));
    CHECK(mean(x, {1}, true).to_vector() == values({2, 5}));
    CHECK(max(x, {0}).to_vector() == values({4, 5, 6}));
    CHECK(max(x, {1}).to_vector() == values({3, 6}));
    CHECK(min(x, {0}).to_vector() == values({1, 2, 3}));
    CHECK(min(x, {1}, true).to_vector() == values({1, 4}));
    // keepdim results broadcast against the input: x - mean(x, {-1}, true) centres rows.
    CHECK(sub(x, mean(x, {-1}, true)).to_vector() == values({-1, 0, 1, -1, 0, 1}));
    // A 0-d tensor reduces to itself.
    CHECK(sum(Tensor::scalar(4, dt)).item() == 4.0);
    CHECK(max(Tensor::scalar(4, dt), {0}).item() == 4.0);
    // Reducing over extent-1 axes only keeps the values.
    CHECK(sum(x.reshape({2, 1, 3}), {1}).to_vector() == x.to_vector());
    // Empty reductions: sum 0, mean NaN.
    const Tensor e = Tensor::zeros({3, 0}, dt);
    CHECK(sum(e, {1}).to_vector() == values({0, 0, 0}));
    CHECK(std::isnan(mean(e, {1}).at({0})));
    CHECK(sum(e, {0}).shape() == Shape{0});
  }
}

TEST_CASE("reductions over every axis subset match a naive double reference", "[reduce]") {
  // Covers every grouping of reduced and kept axes: (R, K, R), (K, R, K), leading, trailing...
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // Tolerance: float64 results agree to rounding (1e-12); float32 results are the rounding
    // of a double sum, so within 1e-6 relative of the naive double sum.
    const double tol = dt == DType::F32 ? 1e-6 : 1e-12;
    const Tensor x = random_tensor({3, 4, 5, 6}, dt, 21);
    for (int mask = 0; mask < 16; ++mask) {
      std::vector<int64_t> axes;
      for (int d = 0; d < 4; ++d)
        if (mask >> d & 1) axes.push_back(d);
      if (axes.empty()) axes = {0, 1, 2, 3};
      INFO("axes mask " << mask);
      auto plus = [](double a, double v) { return a + v; };
      const auto ref_sum = naive_reduce(x, axes, 0.0, plus, [](double a, int64_t) { return a; });
      const auto ref_mean = naive_reduce(x, axes, 0.0, plus, [](double a, int64_t n) { return a / double(n); });
      const auto ref_max = naive_reduce(
          x, axes, -INFINITY, [](double a, double v) { return std::max(a, v); }, [](double a, int64_t) { return a; });
      const auto ref_min = naive_reduce(
          x, axes, INFINITY, [](double a, double v) { return std::min(a, v); }, [](double a, int64_t) { return a; });
      CHECK(vec_diff(sum(x, axes).to_vector(), ref_sum) < tol * 100);
      CHECK(vec_diff(mean(x, axes).to_vector(), ref_mean) < tol * 10);
      CHECK(vec_diff(max(x, axes).to_vector(), ref_max) == 0.0);
      CHECK(vec_diff(min(x, axes).to_vector(), ref_min) == 0.0);
      CHECK(vec_diff(sum(x, axes, true).to_vector(), ref_sum) < tol * 100);
      // var: naive two-pass through mean then squared deviations.
      const Tensor mu = mean(x.to(DType::F64), axes, true);
      const Tensor dev2 = square(sub(x.to(DType::F64), mu));
      const auto ref_var = naive_reduce(dev2, axes, 0.0, plus, [](double a, int64_t n) { return a / double(n - 1); });
      CHECK(vec_diff(var(x, axes).to_vector(), ref_var) < tol * 10);
      const auto ref_var0 = naive_reduce(dev2, axes, 0.0, plus, [](double a, int64_t n) { return a / double(n); });
      CHECK(vec_diff(var(x, axes, false, 0).to_vector(), ref_var0) < tol * 10);
      const auto lse = naive_reduce(
          x, axes, 0.0, [](double a, double v) { return a + std::exp(v); },
          [](double a, int64_t) { return std::log(a); });
      CHECK(vec_diff(logsumexp(x, axes).to_vector(), lse) < tol * 10);
    }
  }
}

TEST_CASE("reductions of strided views equal those of their contiguous copies", "[reduce]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor base = random_tensor({6, 8, 10}, dt, 22);
    const std::vector<Tensor> views = {base.transpose(0, 2), base.slice(1, 1, 8, 3), base.permute({1, 2, 0}),
                                       Tensor::from_vector({1, 5, 3}, {3, 1}, dt).expand({3, 4})};
    for (const Tensor& v : views) {
      INFO("view " << shape_str(v.shape()) << " strides " << shape_str(v.strides()));
      const Tensor c = v.contiguous();
      for (const std::vector<int64_t>& axes : {std::vector<int64_t>{}, {0}, {-1}, {0, 1}}) {
        CHECK(sum(v, axes).to_vector() == sum(c, axes).to_vector());
        CHECK(max(v, axes).to_vector() == max(c, axes).to_vector());
        CHECK(var(v, axes).to_vector() == var(c, axes).to_vector());
        CHECK(logsumexp(v, axes).to_vector() == logsumexp(c, axes).to_vector());
      }
      CHECK(argmax(v, 0).to_vector() == argmax(c, 0).to_vector());
    }
  }
}

TEST_CASE("large reductions (threads, blocked rows and columns) match serial loops", "[reduce]") {
  const Tensor x = random_tensor({1000, 1000}, DType::F32, 23);
  const float* px = x.data<float>();
  // Reference sums in double, one serial loop each.
  std::vector<double> rows(1000, 0.0), cols(1000, 0.0);
  double all = 0.0;
  float mx = -INFINITY;
  for (int64_t i = 0; i < 1000; ++i)
    for (int64_t j = 0; j < 1000; ++j) {
      const double v = px[i * 1000 + j];
      rows[i] += v;
      cols[j] += v;
      all += v;
      mx = std::max(mx, px[i * 1000 + j]);
    }
  // float32 results are the rounding of an exact-enough double sum: within 1e-6 relative
  // (absolute 1e-5 for row/column sums of magnitude up to ~100).
  CHECK(sum(x).item() == Approx(all).epsilon(1e-6));
  CHECK(vec_diff(sum(x, {1}).to_vector(), rows) < 1e-4);
  CHECK(vec_diff(sum(x, {0}).to_vector(), cols) < 1e-4);  // columns, split over R
  CHECK(max(x).item() == mx);
  // One long row (blocked) and one long column.
  const Tensor r = x.reshape({1, 1000000});
  CHECK(sum(r, {1}).item() == Approx(all).epsilon(1e-6));
  CHECK(sum(x.reshape({1000000, 1}), {0}).item() == Approx(all).epsilon(1e-6));
  CHECK(mean(r).item() == Approx(all / 1e6).epsilon(1e-6));
  // var of the whole tensor vs a serial two-pass loop.
  double m = all / 1e6, ss = 0.0;
  for (int64_t i = 0; i < 1000000; ++i) ss += (px[i] - m) * (px[i] - m);
  CHECK(var(x).item() == Approx(ss / 999999.0).epsilon(1e-6));
}

TEST_CASE("float32 sums are accumulated in double", "[reduce]") {
  // 10^6 copies of 0.1f: the exact sum is 100000.0015 -> 100000.0f. A float32 accumulator
  // drifts to about 100958; double accumulation gives the correctly rounded float.
  const Tensor x = Tensor::full({1000000}, 0.1, DType::F32);
  CHECK(sum(x).item() == 100000.0);
  CHECK(sum(x.reshape({1000, 1000}), {0, 1}).item() == 100000.0);
  CHECK(sum(x.reshape({1000000, 1}), {0}).item() == 100000.0);
  // Two-pass var is exact where the one-pass E[x^2] - E[x]^2 fails in float32.
  const Tensor y = Tensor::from_vector({10000, 10001, 10002, 10003}, {4}, DType::F32);
  CHECK(var(y, {}, false, 0).item() == 1.25);
}

TEST_CASE("float32 and float64 reductions agree on random data", "[reduce]") {
  const Tensor x64 = random_tensor({8, 33, 17}, DType::F64, 24);
  const Tensor x32 = x64.to(DType::F32);
  // Inputs are the same float32-representable values (x32 -> F64), so only the output
  // rounding differs: 1e-6 relative to values of order 1..100.
  const Tensor xr = x32.to(DType::F64);
  for (const std::vector<int64_t>& axes : {std::vector<int64_t>{}, {0}, {1}, {2}, {0, 2}}) {
    CHECK(max_abs_diff(sum(x32, axes), sum(xr, axes)) < 1e-4);
    CHECK(max_abs_diff(mean(x32, axes), mean(xr, axes)) < 1e-6);
    CHECK(max_abs_diff(var(x32, axes), var(xr, axes)) < 1e-6);
    CHECK(max_abs_diff(logsumexp(x32, axes), logsumexp(xr, axes)) < 1e-5);
    CHECK(max_abs_diff(max(x32, axes), max(xr, axes)) == 0.0);
  }
}

TEST_CASE("var with correction 0 and 1", "[reduce]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor x = Tensor::from_vector({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4}, dt);
    CHECK(var(x, {1}).to_vector()[0] == Approx(5.0 / 3.0).epsilon(1e-6));  // sum sq dev 5, / 3
    CHECK(var(x, {1}).to_vector()[1] == Approx(20.0 / 3.0).epsilon(1e-6));
    CHECK(var(x, {1}, false, 0).to_vector() == values({1.25, 5}));
    CHECK(var(x, {1}, true, 0).shape() == Shape{2, 1});
    CHECK(var(x, {0}, false, 0).to_vector() == values({0.25, 1, 2.25, 4}));
    CHECK(var(x, {0}).to_vector() == values({0.5, 2, 4.5, 8}));
    // mean 3.75, sum sq dev = 4.75 + 1.75 ... = 37.5 over 8 values.
    CHECK(var(x, {}, false, 0).item() == Approx(37.5 / 8).epsilon(1e-6));
    CHECK(var(x).item() == Approx(37.5 / 7).epsilon(1e-6));
    // One element with correction 1 is 0 / 0 (NaN), as in PyTorch.
    CHECK(std::isnan(var(Tensor::from_vector({3}, {1}, dt)).item()));
    CHECK(var(Tensor::from_vector({3}, {1}, dt), {}, false, 0).item() == 0.0);
  }
  CHECK_THROWS_WITH(var(Tensor::zeros({2, 3}), {1}, false, -1),
                    Catch::Contains("var: correction must be >= 0, got -1 (input shape (2, 3))"));
}

TEST_CASE("max and min propagate NaN, argmax picks the first maximum", "[reduce]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // NaN in the middle of a row long enough to use every lane.
    std::vector<double> v(100, 1.0);
    v[50] = nan;
    const Tensor x = Tensor::from_vector(v, {100}, dt);
    CHECK(std::isnan(max(x).item()));
    CHECK(std::isnan(min(x).item()));
    CHECK(std::isnan(max(x.reshape({10, 10}), {0}).at({0})));  // column path
    CHECK(max(x.reshape({10, 10}), {0}).at({1}) == 1.0);

    const Tensor a = Tensor::from_vector({1, 3, 3, 2, 5, 5, 5, 0, -1, -1, 9, -1}, {3, 4}, dt);
    const Tensor am = argmax(a, 1);
    CHECK(am.dtype() == DType::I64);
    CHECK(am.shape() == Shape{3});
    CHECK(am.to_vector() == values({1, 0, 2}));  // ties: the first index
    CHECK(argmax(a, 0).to_vector() == values({1, 1, 2, 0}));
    CHECK(argmax(a, -2, true).shape() == Shape{1, 4});
    CHECK(argmax(a.transpose(0, 1), 1).to_vector() == values({1, 1, 2, 0}));
    CHECK(argmax(Tensor::from_vector({0, nan, 7}, {3}, dt), 0).item() == 1.0);  // NaN is the maximum
  }
  CHECK_THROWS_WITH(max(Tensor::zeros({3, 0}), {1}),
                    Catch::Contains("max: cannot reduce over an axis of extent 0 (input shape (3, 0))"));
  CHECK_THROWS_WITH(argmax(Tensor::zeros({0, 2}), 0),
                    Catch::Contains("argmax: cannot reduce over an axis of extent 0"));
  CHECK_THROWS_WITH(argmax(Tensor::zeros({2, 3}), 2),
                    Catch::Contains("argmax: axis 2 is out of range for a tensor of shape (2, 3)"));
}

TEST_CASE("logsumexp of extreme inputs", "[reduce]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const double tol = dt == DType::F32 ? 1e-6 : 1e-14;
    const Tensor big = Tensor::from_vector({1000, -1000, 0, 1000, 1000, 1000}, {2, 3}, dt);
    const Tensor lse = logsumexp(big, {1});
    CHECK(lse.to_vector()[0] == 1000.0);
    CHECK(lse.to_vector()[1] == Approx(1000.0 + std::log(3.0)).epsilon(tol));
    CHECK(logsumexp(big, {1}, true).shape() == Shape{2, 1});
    CHECK(logsumexp(Tensor::from_vector({1, 2, 3}, {3}, dt), {0}).item() == Approx(3.40760596444438).epsilon(tol));
    // All -inf: logsumexp is -inf (not NaN).
    const Tensor ninf = Tensor::full({2}, -INFINITY, dt);
    CHECK(logsumexp(ninf, {0}).item() == -INFINITY);
  }
}

TEST_CASE("sum_to undoes broadcasting", "[reduce]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor x = random_tensor({2, 3, 4}, dt, 26);
    const Tensor s = sum_to(x, {3, 1});
    CHECK(s.shape() == Shape{3, 1});
    CHECK(s.to_vector() == sum(x, {0, 2}).to_vector());
    CHECK(sum_to(x, {4}).to_vector() == sum(x, {0, 1}).to_vector());
    CHECK(sum_to(x, {1, 3, 4}).to_vector() == sum(x, {0}).to_vector());
    CHECK(sum_to(x, {}).item() == Approx(sum(x).item()).epsilon(1e-12));
    CHECK(sum_to(x, {2, 3, 4}).to_vector() == x.to_vector());
    CHECK(sum_to(x, {2, 3, 4}).storage() == x.storage());  // nothing to sum: a view, no copy
    // The backward of (B, C, H, W) + (C, 1, 1): per-channel sums, hand-checked.
    const Tensor g = Tensor::ones({2, 3, 2, 2}, dt);
    CHECK(sum_to(g, {3, 1, 1}).to_vector() == values({8, 8, 8}));
    // Only extent-1 axes dropped: values unchanged.
    CHECK(sum_to(Tensor::from_vector({1, 2}, {1, 2}, dt), {2}).to_vector() == values({1, 2}));
  }
  const Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(sum_to(x, {4}), Catch::Contains("sum_to: cannot sum (2, 3) down to (4,): axis -1 has extent 3 "
                                                    "in the input and 4 in the target"));
  CHECK_THROWS_WITH(sum_to(x, {2, 2, 3}), Catch::Contains("sum_to: cannot sum (2, 3) down to (2, 2, 3)"));
}

TEST_CASE("reduction errors name the op, the axes and the shapes", "[reduce]") {
  const Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(sum(x, {2}), Catch::Contains("sum: axis 2 is out of range for a tensor of shape (2, 3)"));
  CHECK_THROWS_WITH(mean(x, {1, -1}),
                    Catch::Contains("mean: axis -1 is listed twice in the axes for a tensor of shape (2, 3)"));
  CHECK_THROWS_WITH(logsumexp(x, {5}), Catch::Contains("logsumexp: axis 5 is out of range"));
  const Tensor idx = Tensor::from_indices({1, 2}, {2});
  CHECK_THROWS_WITH(sum(idx), Catch::Contains("sum: expected a float32 or float64 tensor, got int64"));
  CHECK_THROWS_WITH(argmax(idx, 0), Catch::Contains("argmax: expected a float32 or float64 tensor, got int64"));
  CHECK_THROWS_WITH(sum_to(idx, {1}), Catch::Contains("sum_to: expected a float32 or float64 tensor"));
}
