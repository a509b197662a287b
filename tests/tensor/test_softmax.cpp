// Tests of the softmax kernels (tensor/softmax.h): softmax, log_softmax and their backward
// kernels against the naive references on every axis (float64 1e-12, float32) and on sizes that
// take the threaded path; strided inputs; hand-computed values; rows sum to 1; extreme inputs;
// float32 against float64; attention's masked softmax (scale, key mask, all-masked rows) and its
// backward against plain loops; the error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "tensor/tensor.h"
#include "test_util.h"

using namespace tinydiff;
using namespace tinydiff::test;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed, double stddev = 1.0) {
  return Generator(seed).normal(shape, 0.0, stddev, DType::F64);
}

// The forward and backward kernels of softmax and log_softmax against their naive references
// on x along `axis`, with one random upstream gradient.
void check_kernels(const Tensor& x, int64_t axis, double tol) {
  const Tensor g = Generator(99).normal(x.shape(), 0.0, 1.0, x.dtype());
  const Tensor y = softmax(x, axis), ly = log_softmax(x, axis);
  REQUIRE(y.shape() == x.shape());
  CHECK(max_abs_diff(y, softmax_naive(x, axis)) < tol);
  CHECK(max_abs_diff(ly, log_softmax_naive(x, axis)) < tol);
  CHECK(max_abs_diff(softmax_backward(y, g, axis), softmax_backward_naive(y, g, axis)) < tol);
  CHECK(max_abs_diff(log_softmax_backward(ly, g, axis), log_softmax_backward_naive(ly, g, axis)) < tol);
}

}  // namespace

TEST_CASE("softmax kernels match the naive references on every axis", "[softmax]") {
  const Tensor x = randn64({3, 4, 5}, 1, 2.0);
  for (int64_t axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    // float64, the same maths in a different order: agreement to ~1e-15; 1e-12 is the bound.
    check_kernels(x, axis, 1e-12);
    // float32: rounding of O(1) values, ~1e-7; 1e-5 leaves margin.
    check_kernels(x.to(DType::F32), axis, 1e-5);
  }
  // Non-contiguous input and upstream gradient: the kernels lay the rows out themselves.
  check_kernels(randn64({5, 3, 4}, 2).permute({2, 0, 1}), 1, 1e-12);
  const Tensor y = softmax(x, 1), g = randn64({4, 3, 5}, 3).permute({1, 0, 2});
  CHECK(max_abs_diff(softmax_backward(y, g, 1), softmax_backward_naive(y, g.contiguous(), 1)) < 1e-12);
}

TEST_CASE("softmax on inputs large enough for the multithreaded kernel paths", "[softmax]") {
  // (256, 64) along either axis exceeds parallel_for's ~32k-flop threshold.
  const Tensor x = randn64({256, 64}, 13, 2.0);
  for (int64_t axis : {0, 1}) {
    INFO("axis " << axis);
    check_kernels(x, axis, 1e-12);
  }
  // softmax rows of a large tensor sum to 1.
  const Tensor big = random_tensor({1000, 1000}, DType::F32, 23);
  const Tensor p = softmax(big, -1);
  CHECK(max_abs_diff(sum(p, {1}), Tensor::ones({1000}, DType::F64)) < 1e-5);
}

TEST_CASE("softmax of strided views equals that of their contiguous copies", "[softmax]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor base = random_tensor({6, 8, 10}, dt, 22);
    const std::vector<Tensor> views = {base.transpose(0, 2), base.slice(1, 1, 8, 3), base.permute({1, 2, 0}),
                                       Tensor::from_vector({1, 5, 3}, {3, 1}, dt).expand({3, 4})};
    for (const Tensor& v : views) {
      INFO("view " << shape_str(v.shape()) << " strides " << shape_str(v.strides()));
      const Tensor c = v.contiguous();
      CHECK(softmax(v, 0).to_vector() == softmax(c, 0).to_vector());
      CHECK(log_softmax(v, -1).to_vector() == log_softmax(c, -1).to_vector());
    }
  }
}

TEST_CASE("softmax hand-computed values, rows sum to one", "[softmax]") {
  // softmax(0, ln 2, ln 5) = (1, 2, 5) / 8.
  const Tensor x = Tensor::from_vector({0.0, std::log(2.0), std::log(5.0)}, {1, 3}, DType::F64);
  const Tensor p = softmax(x, -1);
  CHECK(p.at({0, 0}) == Approx(0.125).epsilon(1e-14));
  CHECK(p.at({0, 1}) == Approx(0.25).epsilon(1e-14));
  CHECK(p.at({0, 2}) == Approx(0.625).epsilon(1e-14));
  CHECK(log_softmax(x, -1).at({0, 2}) == Approx(std::log(0.625)).epsilon(1e-14));
  const Tensor rows = sum(softmax(randn64({4, 7, 2}, 2), 1), {1});
  CHECK(max_abs_diff(rows, Tensor::ones({4, 2}, DType::F64)) < 1e-14);
  // A 0-d tensor is one row of one element.
  CHECK(softmax(Tensor::scalar(3.0, DType::F64), 0).item() == 1.0);
  CHECK(log_softmax(Tensor::scalar(3.0, DType::F64), -1).item() == 0.0);
}

TEST_CASE("softmax and log_softmax: rows sum to 1, naive formula, extreme inputs", "[softmax]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const double tol = dt == DType::F32 ? 1e-6 : 1e-14;
    const Tensor x = random_tensor({3, 4, 5}, dt, 25, -3, 3);
    for (int64_t axis : {0, 1, 2, -1}) {
      INFO("axis " << axis);
      const Tensor p = softmax(x, axis);
      CHECK(p.shape() == x.shape());
      CHECK(p.is_contiguous());
      // Naive formula, in double: exp(x) / sum exp(x) (no max subtraction needed for |x| <= 3).
      const Tensor e = exp(x.to(DType::F64));
      const Tensor naive = div(e, sum(e, {axis}, true));
      CHECK(max_abs_diff(p, naive) < tol);
      CHECK(max_abs_diff(sum(p, {axis}), Tensor::ones({}, DType::F64)) < 10 * tol);
      CHECK(max_abs_diff(log_softmax(x, axis), log(naive)) < 10 * tol);
    }
    // Hand values: softmax(0, ln 3) = (1/4, 3/4).
    CHECK(softmax(Tensor::from_vector({0, std::log(3.0)}, {2}, dt), 0).to_vector()[1] == Approx(0.75).epsilon(tol));
    // Extreme inputs: no overflow, no NaN.
    const Tensor big = Tensor::from_vector({1000, -1000, 0, 1000, 1000, 1000}, {2, 3}, dt);
    const Tensor ps = softmax(big, 1);
    CHECK(all_finite(ps));
    CHECK(ps.to_vector()[0] == 1.0);
    CHECK(ps.to_vector()[1] == 0.0);
    CHECK(ps.to_vector()[3] == Approx(1.0 / 3.0).epsilon(tol));
    const Tensor ls = log_softmax(big, 1);
    CHECK(all_finite(ls));
    CHECK(ls.to_vector()[0] == 0.0);
    CHECK(ls.to_vector()[1] == -2000.0);
    CHECK(ls.to_vector()[2] == -1000.0);
    // (1000 - 1000) - ln 3: the difference from the maximum is exact, so only ln 3 is rounded
    // (to the dtype's precision, ~1e-7 or ~1e-16 relative); the bounds are those a shift
    // rounded at magnitude 1000 would still meet (float32 ulp 6e-5 there, float64 1e-13).
    CHECK(ls.to_vector()[4] == Approx(-std::log(3.0)).epsilon(dt == DType::F32 ? 1e-4 : 1e-12));
    CHECK(ls.to_vector()[4] == Approx(-std::log(3.0)).epsilon(dt == DType::F32 ? 1e-6 : 1e-15));
  }
}

TEST_CASE("softmax is stable for large logits", "[softmax]") {
  const Tensor x = Tensor::from_vector({1000.0, 1001.0, 1002.0, -1000.0}, {1, 4}, DType::F32);
  const Tensor y = softmax(x, -1);
  const Tensor ly = log_softmax(x, -1);
  CHECK(all_finite(y));
  CHECK(all_finite(ly));
  // softmax(0, 1, 2) = e^k / (1 + e + e^2).
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  CHECK(y.at({0, 2}) == Approx(std::exp(2.0) / z).epsilon(1e-6));
  CHECK(ly.at({0, 0}) == Approx(-std::log(z)).epsilon(1e-6));
  // The gradient of sum(y * ly): upstream ly into softmax, y into log_softmax.
  const Tensor dx = add(softmax_backward(y, ly, -1), log_softmax_backward(ly, y, -1));
  CHECK(all_finite(dx));
}

TEST_CASE("softmax float32 agrees with float64", "[softmax]") {
  const Tensor x64 = randn64({6, 33}, 10, 3.0), g64 = randn64({6, 33}, 11);
  const Tensor x32 = x64.to(DType::F32), g32 = g64.to(DType::F32);
  // float32 relative rounding ~1e-7 on O(1..10) values; 1e-5 absolute leaves margin.
  const Tensor y64 = softmax(x64, -1), y32 = softmax(x32, -1);
  CHECK(max_abs_diff(y64, y32) < 1e-5);
  CHECK(max_abs_diff(softmax_backward(y64, g64, -1), softmax_backward(y32, g32, -1)) < 1e-5);
  const Tensor l64 = log_softmax(x64, -1), l32 = log_softmax(x32, -1);
  CHECK(max_abs_diff(l64, l32) < 1e-5);
  CHECK(max_abs_diff(log_softmax_backward(l64, g64, -1), log_softmax_backward(l32, g32, -1)) < 1e-5);
  // Inputs that are the same float32-representable values: only the output rounding differs.
  const Tensor xs = random_tensor({8, 33, 17}, DType::F64, 24).to(DType::F32);
  const Tensor xr = xs.to(DType::F64);
  CHECK(max_abs_diff(softmax(xs, 1), softmax(xr, 1)) < 1e-6);
  CHECK(max_abs_diff(log_softmax(xs, 2), log_softmax(xr, 2)) < 1e-5);
}

TEST_CASE("masked_softmax_ matches plain loops, with and without a key mask", "[softmax][attention]") {
  // scores (B = 2, H = 2, Lq = 3, Lk = 5); batch 0 keeps keys 0, 2, 3, batch 1 keeps none.
  const Tensor mask = Tensor::from_vector({1, 0, 1, 1, 0, 0, 0, 0, 0, 0}, {2, 5}, DType::F64);
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const double tol = dt == DType::F32 ? 1e-6 : 1e-14;
    const Tensor s = randn64({2, 2, 3, 5}, 30, 2.0).to(dt);
    for (const Tensor& m : {Tensor(), mask.to(dt)}) {
      INFO((m.defined() ? "masked" : "no mask"));
      Tensor p = s.clone();
      masked_softmax_(p, m, 0.7);
      CHECK(max_abs_diff(p, masked_softmax_naive(s, m, 0.7)) < tol);
      const Tensor g = randn64(s.shape(), 31).to(dt);
      Tensor ds = g.clone();
      masked_softmax_backward_(p, ds, 0.7);
      CHECK(max_abs_diff(ds, masked_softmax_backward_naive(p, g, 0.7)) < 10 * tol);
      if (!m.defined()) continue;
      // Masked keys: probability and gradient exactly 0; all-masked rows (batch 1): zeros.
      CHECK(p.slice(3, 1, 2).to_vector() == std::vector<double>(12, 0.0));
      CHECK(p.slice(0, 1, 2).to_vector() == std::vector<double>(30, 0.0));
      CHECK(ds.slice(0, 1, 2).to_vector() == std::vector<double>(30, 0.0));
    }
  }
  // Scale 1 and no mask: the softmax along the last axis, bit for bit (the same row kernel).
  const Tensor s = randn64({4, 9}, 32);
  Tensor p = s.clone();
  masked_softmax_(p, Tensor(), 1.0);
  CHECK(p.to_vector() == softmax(s, -1).to_vector());
}

TEST_CASE("softmax kernels reject bad arguments with helpful messages", "[softmax]") {
  const Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(softmax(x, -3), Catch::Contains("softmax: axis -3 is out of range"));
  CHECK_THROWS_WITH(log_softmax(Tensor::from_indices({1, 2}, {2}), 0),
                    Catch::Contains("log_softmax") && Catch::Contains("int64"));
  CHECK_THROWS_WITH(softmax_backward(x, Tensor::zeros({3, 2}), -1),
                    Catch::Contains("softmax_backward") && Catch::Contains("(2, 3)") && Catch::Contains("(3, 2)"));
  Tensor t = Tensor::zeros({3, 2}).transpose(0, 1);
  CHECK_THROWS_WITH(masked_softmax_(t, Tensor(), 1.0),
                    Catch::Contains("masked_softmax_") && Catch::Contains("not contiguous"));
  Tensor s = Tensor::zeros({3, 2, 4});
  CHECK_THROWS_WITH(masked_softmax_(s, Tensor::ones({4, 4}), 1.0),
                    Catch::Contains("B dividing the 6 rows") && Catch::Contains("got (4, 4)"));
  CHECK_THROWS_WITH(masked_softmax_(s, Tensor::ones({3, 4}, DType::F64), 1.0), Catch::Contains("dtype float32"));
}
