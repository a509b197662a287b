// Tests of conv2d (im2col + GEMM), its input and weight gradients, and nearest upsampling:
// fast kernels against the naive loops on random data (float32 and float64, strides,
// padding, 1x1, non-square kernels, one and many images), hand-computed values, the
// adjoint identities that tie the three naive references together, and error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "tensor/tensor.h"
#include "test_util.h"

using namespace tinydiff;
using namespace tinydiff::test;

namespace {

double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}

// Tolerances: outputs are sums of at most ~600 products of N(0, 1) values; float32 rounding
// gives errors around 1e-5, so 5e-4 leaves margin while indexing bugs give errors of order 1.
double tol(DType dtype) { return dtype == DType::F32 ? 5e-4 : 1e-10; }

struct ConvCase {
  int64_t B, Cin, H, W, Cout, kh, kw, stride, pad;
};

// Odd sizes, stride 2 with padding 1, 1x1 (direct and strided), non-square kernels, B = 1
// (sequential images, threaded GEMM) and B >= 2 (images over threads). Cases whose output
// width equals the input width (3x3 pad 1, 5x5 pad 2, 3x1 pad 1) take im2col's block-copy
// path, the others the row-by-row path; the last two are U-Net-like sizes.
const std::vector<ConvCase> kCases = {
    {2, 3, 7, 6, 4, 3, 3, 1, 1},   {3, 2, 9, 8, 5, 3, 3, 2, 1},   {1, 3, 9, 8, 5, 3, 3, 2, 1},
    {2, 4, 5, 5, 3, 1, 1, 1, 0},   {1, 4, 5, 5, 3, 1, 1, 1, 0},   {3, 2, 6, 7, 3, 1, 1, 2, 0},
    {4, 3, 8, 8, 2, 5, 5, 1, 2},   {2, 3, 6, 6, 2, 2, 2, 2, 0},   {5, 2, 5, 5, 3, 3, 3, 3, 2},
    {2, 2, 6, 5, 3, 3, 1, 1, 1},   {1, 1, 4, 4, 1, 3, 3, 1, 0},   {1, 2, 2, 2, 2, 3, 3, 1, 1},
    {3, 8, 16, 16, 6, 3, 3, 1, 1}, {1, 8, 16, 12, 6, 3, 3, 1, 1},
};

}  // namespace

TEST_CASE("conv2d of a 3x3 image with a 3x3 kernel matches the hand-computed result", "[conv]") {
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, dt);
    // Sobel kernel (a cross-correlation, as in PyTorch: not flipped).
    const Tensor w = Tensor::from_vector({1, 0, -1, 2, 0, -2, 1, 0, -1}, {1, 1, 3, 3}, dt);
    const Tensor b = Tensor::from_vector({0.5}, {1}, dt);
    // Padding 1: y[i][j] = sum_u r_u (x[i+u-1][j-1] - x[i+u-1][j+1]), r = (1, 2, 1), zeros outside.
    const std::vector<double> expect{-8.5, -5.5, 9.5, -19.5, -7.5, 20.5, -20.5, -5.5, 21.5};
    Tensor y = conv2d(x, w, b, 1, 1);
    CHECK(y.shape() == Shape{1, 1, 3, 3});
    CHECK(y.to_vector() == expect);
    CHECK(conv2d_naive(x, w, b, 1, 1).to_vector() == expect);
    // No padding: one output, (1 - 3) + 2 (4 - 6) + (7 - 9) + 0.5.
    CHECK(conv2d(x, w, b).to_vector() == std::vector<double>{-7.5});
    // Stride 2, padding 1: the corners of the padded result.
    CHECK(conv2d(x, w, b, 2, 1).to_vector() == std::vector<double>{-8.5, 9.5, -20.5, 21.5});
  }
}

TEST_CASE("conv2d with a 1x1 kernel mixes channels per pixel", "[conv]") {
  // x: 2 channels of 2x2; w: out0 = c0 + c1, out1 = 2 c0 - c1.
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2}, DType::F64);
  const Tensor w = Tensor::from_vector({1, 1, 2, -1}, {2, 2, 1, 1}, DType::F64);
  Tensor y = conv2d(x, w, Tensor());
  CHECK(y.to_vector() == std::vector<double>{11, 22, 33, 44, -8, -16, -24, -32});
  // Stride 2 keeps only pixel (0, 0).
  CHECK(conv2d(x, w, Tensor(), 2, 0).to_vector() == std::vector<double>{11, -8});
}

TEST_CASE("conv2d and its gradients match the naive loops", "[conv]") {
  uint32_t seed = 1000;
  for (DType dt : {DType::F32, DType::F64}) {
    for (const ConvCase& c : kCases) {
      INFO("B=" << c.B << " Cin=" << c.Cin << " H=" << c.H << " W=" << c.W << " Cout=" << c.Cout << " k=" << c.kh << "x"
                << c.kw << " stride=" << c.stride << " pad=" << c.pad << " " << dtype_name(dt));
      const Tensor x = randn({c.B, c.Cin, c.H, c.W}, dt, ++seed);
      const Tensor w = randn({c.Cout, c.Cin, c.kh, c.kw}, dt, ++seed);
      const Tensor b = randn({c.Cout}, dt, ++seed);
      const Tensor y = conv2d(x, w, b, c.stride, c.pad);
      const Tensor y_ref = conv2d_naive(x, w, b, c.stride, c.pad);
      CHECK(y.shape() ==
            Shape{c.B, c.Cout, conv_out_size(c.H, c.kh, c.stride, c.pad), conv_out_size(c.W, c.kw, c.stride, c.pad)});
      CHECK(max_abs_diff_of(y, y_ref) < tol(dt));
      CHECK(max_abs_diff_of(conv2d(x, w, Tensor(), c.stride, c.pad), conv2d_naive(x, w, Tensor(), c.stride, c.pad)) <
            tol(dt));

      const Tensor g = randn(y.shape(), dt, ++seed);
      const Tensor dx = conv2d_backward_input(g, w, x.shape(), c.stride, c.pad);
      CHECK(dx.shape() == x.shape());
      CHECK(max_abs_diff_of(dx, conv2d_backward_input_naive(g, w, x.shape(), c.stride, c.pad)) < tol(dt));
      const Tensor dw = conv2d_backward_weight(g, x, w.shape(), c.stride, c.pad);
      CHECK(dw.shape() == w.shape());
      CHECK(max_abs_diff_of(dw, conv2d_backward_weight_naive(g, x, w.shape(), c.stride, c.pad)) < tol(dt));
    }
  }
}

TEST_CASE("the naive conv references are adjoint to each other", "[conv]") {
  // Convolution is linear in x and in w, so for any g:
  //   <conv(x, w), g> = <x, backward_input(g, w)> = <w, backward_weight(g, x)>.
  // This ties the three independent naive loops together (float64; tolerance 1e-10 relative).
  for (const ConvCase& c : kCases) {
    const Tensor x = randn({c.B, c.Cin, c.H, c.W}, DType::F64, 7);
    const Tensor w = randn({c.Cout, c.Cin, c.kh, c.kw}, DType::F64, 8);
    const Tensor y = conv2d_naive(x, w, Tensor(), c.stride, c.pad);
    const Tensor g = randn(y.shape(), DType::F64, 9);
    const double lhs = dot(y, g);
    CHECK(dot(x, conv2d_backward_input_naive(g, w, x.shape(), c.stride, c.pad)) == Approx(lhs).epsilon(1e-10));
    CHECK(dot(w, conv2d_backward_weight_naive(g, x, w.shape(), c.stride, c.pad)) == Approx(lhs).epsilon(1e-10));
  }
}

TEST_CASE("conv2d accepts non-contiguous inputs and U-Net sized batches", "[conv]") {
  // x as a permuted view (B, H, W, C) -> (B, C, H, W); enough images for the threaded path.
  const Tensor xl = randn({8, 6, 6, 4}, DType::F32, 11);
  const Tensor x = xl.permute({0, 3, 1, 2});
  REQUIRE_FALSE(x.is_contiguous());
  const Tensor w = randn({5, 4, 3, 3}, DType::F32, 12).transpose(2, 3);  // non-contiguous weight
  const Tensor b = randn({5}, DType::F32, 13);
  CHECK(max_abs_diff_of(conv2d(x, w, b, 1, 1), conv2d_naive(x, w, b, 1, 1)) < 5e-4);
  const Tensor g = randn({8, 5, 6, 6}, DType::F32, 14).permute({0, 1, 3, 2});
  CHECK(max_abs_diff_of(conv2d_backward_weight(g, x, {5, 4, 3, 3}, 1, 1),
                        conv2d_backward_weight_naive(g, x, {5, 4, 3, 3}, 1, 1)) < 5e-4);
  CHECK(max_abs_diff_of(conv2d_backward_input(g, w, x.shape(), 1, 1),
                        conv2d_backward_input_naive(g, w, x.shape(), 1, 1)) < 5e-4);
}

TEST_CASE("conv2d_backward_weight is deterministic", "[conv]") {
  const Tensor x = randn({16, 8, 10, 10}, DType::F32, 21);
  const Tensor g = randn({16, 8, 10, 10}, DType::F32, 22);
  const Tensor a = conv2d_backward_weight(g, x, {8, 8, 3, 3}, 1, 1);
  const Tensor b = conv2d_backward_weight(g, x, {8, 8, 3, 3}, 1, 1);
  CHECK(a.to_vector() == b.to_vector());  // bit-identical: fixed reduction order, no atomics
}

TEST_CASE("upsample_nearest2d repeats pixels and its backward sums blocks", "[conv]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}, DType::F64);
  Tensor y = upsample_nearest2d(x, 2);
  CHECK(y.shape() == Shape{1, 1, 4, 4});
  CHECK(y.to_vector() == std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // grad 0..15 on the 4x4 grid: blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}.
  const Tensor g = Tensor::arange(0, 16, 1, DType::F64).reshape({1, 1, 4, 4});
  Tensor dx = upsample_nearest2d_backward(g, 2);
  CHECK(dx.shape() == Shape{1, 1, 2, 2});
  CHECK(dx.to_vector() == std::vector<double>{10, 18, 42, 50});

  // Larger, scale 3, float32, against direct loops.
  const Tensor xr = randn({3, 4, 5, 6}, DType::F32, 31);
  const Tensor yr = upsample_nearest2d(xr, 3);
  REQUIRE(yr.shape() == Shape{3, 4, 15, 18});
  bool ok = true;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t i = 0; i < 15; ++i)
        for (int64_t j = 0; j < 18; ++j) ok = ok && yr.at({b, c, i, j}) == xr.at({b, c, i / 3, j / 3});
  CHECK(ok);
  const Tensor gr = randn({3, 4, 15, 18}, DType::F32, 32);
  const Tensor dxr = upsample_nearest2d_backward(gr, 3);
  double worst = 0.0;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 6; ++j) {
          double s = 0.0;
          for (int64_t u = 0; u < 3; ++u)
            for (int64_t v = 0; v < 3; ++v) s += gr.at({b, c, 3 * i + u, 3 * j + v});
          worst = std::max(worst, std::abs(dxr.at({b, c, i, j}) - s));
        }
  CHECK(worst < 1e-5);  // 9 float32 terms of order 1
  // Adjoint: <up(x), g> = <x, up_backward(g)>.
  CHECK(dot(yr, gr) == Approx(dot(xr, dxr)).epsilon(1e-5));
}

TEST_CASE("conv2d explains bad inputs", "[conv]") {
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 5, 3, 3}), Tensor()),
                    Catch::Contains("conv2d: input (2, 3, 8, 8) has 3 channels but weight (4, 5, 3, 3) expects 5 "
                                    "input channels"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3}), Tensor()),
                    Catch::Contains("expected input of shape (B, C, H, W), got (3, 8, 8)"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5})),
                    Catch::Contains("bias has shape (5,) but weight (4, 3, 3, 3) needs (4,)"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 1, 2, 2}), Tensor::zeros({1, 1, 5, 5}), Tensor()),
                    Catch::Contains("kernel 5x5 is larger than the padded input 2x2"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), 0, 1), Catch::Contains("stride >= 1"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::F64), Tensor()),
                    Catch::Contains("conv2d: dtypes differ"));
  CHECK_THROWS_WITH(conv2d_backward_input(Tensor::zeros({2, 4, 7, 7}), Tensor::zeros({4, 3, 3, 3}), {2, 3, 8, 8}, 1, 1),
                    Catch::Contains("grad_out has shape (2, 4, 7, 7) but the convolution's output is (2, 4, 8, 8)"));
  CHECK_THROWS_WITH(conv2d_backward_weight(Tensor::zeros({2, 4, 8, 8}), x, {4, 2, 3, 3}, 1, 1),
                    Catch::Contains("has 3 channels but weight (4, 2, 3, 3) expects 2"));
  CHECK_THROWS_WITH(upsample_nearest2d_backward(Tensor::zeros({1, 1, 5, 4}), 2),
                    Catch::Contains("not multiples of scale 2"));
  CHECK_THROWS_WITH(upsample_nearest2d(Tensor::zeros({4, 4}), 2), Catch::Contains("expected input of shape"));
}
