// Tests of the Winograd F(2x2, 3x3) path (tensor/conv_winograd.h) that conv2d takes for float32
// 3x3 convolutions with stride 1, padding 1 and at least 8 channels, and conv2d_backward for the
// input gradient of layers with 128+ channels: outputs and input gradients against the naive
// kernels (float64 sums), over even and odd image sizes, 1x1 and 2x3 images, batches that do and
// do not fill whole chunks, and batches large enough for several threaded tasks; the gradients
// conv2d_backward returns around it (im2col) are checked too. Tolerance: 2e-6 relative to the
// largest magnitude of the reference (float32 rounding of sums over Cin x 9 terms through
// transforms with constants 0, +-1, +-1/2; the measured worst case is 3e-7).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "tensor/conv_winograd.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

// |a - ref| <= tol * max|ref|, elementwise.
void check_close(const Tensor& a, const Tensor& ref, double tol) {
  REQUIRE(a.shape() == ref.shape());
  const double scale = std::max(max_abs(ref), 1e-30);
  INFO("max abs diff " << max_abs_diff(a, ref) << " at scale " << scale);
  CHECK(max_abs_diff(a, ref) <= tol * scale);
}

struct Case {
  int64_t B, Cin, Cout, H, W;
};

}  // namespace

TEST_CASE("Winograd conv2d matches conv2d_naive", "[tensor][conv][winograd]") {
  const double tol = 2e-6;
  for (const Case c : {Case{2, 8, 8, 5, 7}, Case{3, 16, 8, 8, 8}, Case{1, 8, 16, 1, 1}, Case{2, 8, 8, 2, 3},
                       Case{9, 8, 12, 6, 4}, Case{2, 24, 16, 16, 16}}) {
    INFO("B " << c.B << " Cin " << c.Cin << " Cout " << c.Cout << " H " << c.H << " W " << c.W);
    Generator gen(static_cast<uint64_t>(c.B * 1000 + c.Cin * 10 + c.H));
    const Tensor x = gen.normal({c.B, c.Cin, c.H, c.W});
    const Tensor w = gen.normal({c.Cout, c.Cin, 3, 3}, 0.0, 0.3);
    const Tensor b = gen.normal({c.Cout});
    REQUIRE(winograd_conv_applies(x.shape(), w.shape(), 1, 1, DType::F32));
    check_close(conv2d(x, w, b, 1, 1), conv2d_naive(x, w, b, 1, 1), tol);
    check_close(conv2d(x, w, Tensor(), 1, 1), conv2d_naive(x, w, Tensor(), 1, 1), tol);
  }
}

TEST_CASE("Winograd input gradient matches the naive kernel", "[tensor][conv][winograd]") {
  const double tol = 2e-6;
  for (const Case c : {Case{2, 8, 8, 5, 7}, Case{1, 8, 16, 1, 1}, Case{2, 8, 8, 2, 3}, Case{9, 16, 8, 6, 4},
                       Case{3, 128, 128, 4, 6}}) {
    INFO("B " << c.B << " Cin " << c.Cin << " Cout " << c.Cout << " H " << c.H << " W " << c.W);
    Generator gen(static_cast<uint64_t>(c.B * 77 + c.Cin + c.W));
    const Tensor x = gen.normal({c.B, c.Cin, c.H, c.W});
    const Tensor w = gen.normal({c.Cout, c.Cin, 3, 3}, 0.0, 0.3);
    const Tensor g = gen.normal({c.B, c.Cout, c.H, c.W});
    check_close(conv2d_winograd_backward_input(g, w, x.shape()), conv2d_backward_input_naive(g, w, x.shape(), 1, 1),
                tol);
  }
  // Through conv2d_backward (128 channels in and out: the input gradient takes this path).
  Generator gen(3);
  const Tensor x = gen.normal({2, 128, 4, 4}), w = gen.normal({128, 128, 3, 3}, 0.0, 0.1);
  const Tensor g = gen.normal({2, 128, 4, 4});
  REQUIRE(winograd_backward_input_applies(x.shape(), w.shape(), 1, 1, DType::F32));
  const Conv2dGrads d = conv2d_backward(g, x, w, x.shape(), w.shape(), 1, 1, true, true, true);
  check_close(d.input, conv2d_backward_input_naive(g, w, x.shape(), 1, 1), tol);
  check_close(d.weight, conv2d_backward_weight_naive(g, x, w.shape(), 1, 1), tol);
  check_close(d.bias, sum(g.to(DType::F64), {0, 2, 3}), tol);
}

TEST_CASE("Winograd conv2d on a batch split into many tasks", "[tensor][conv][winograd]") {
  // 64 images of 8x8: 8 chunks of 8 images, run as parallel tasks; the result must not depend on
  // the schedule.
  Generator gen(5);
  const Tensor x = gen.normal({64, 16, 8, 8}), w = gen.normal({16, 16, 3, 3}, 0.0, 0.3);
  const Tensor g = gen.normal({64, 16, 8, 8});
  const Tensor y1 = conv2d(x, w, Tensor(), 1, 1), y2 = conv2d(x, w, Tensor(), 1, 1);
  CHECK(max_abs_diff(y1, y2) == 0.0);
  check_close(y1, conv2d_naive(x, w, Tensor(), 1, 1), 2e-6);
  const Tensor d1 = conv2d_winograd_backward_input(g, w, x.shape());
  CHECK(max_abs_diff(d1, conv2d_winograd_backward_input(g, w, x.shape())) == 0.0);
  check_close(d1, conv2d_backward_input_naive(g, w, x.shape(), 1, 1), 2e-6);
  // With the path turned off, conv2d is im2col + GEMM: the same values up to rounding.
  set_winograd_enabled(false);
  CHECK_FALSE(winograd_conv_applies(x.shape(), w.shape(), 1, 1, DType::F32));
  check_close(conv2d(x, w, Tensor(), 1, 1), y1, 2e-6);
  set_winograd_enabled(true);
}

TEST_CASE("Winograd applies only to float32 3x3 stride-1 padding-1 convolutions with 8+ channels",
          "[tensor][conv][winograd]") {
  CHECK(winograd_conv_applies({2, 8, 8, 8}, {8, 8, 3, 3}, 1, 1, DType::F32));
  CHECK_FALSE(winograd_conv_applies({2, 8, 8, 8}, {8, 8, 3, 3}, 1, 1, DType::F64));
  CHECK_FALSE(winograd_conv_applies({2, 8, 8, 8}, {8, 8, 3, 3}, 2, 1, DType::F32));
  CHECK_FALSE(winograd_conv_applies({2, 8, 8, 8}, {8, 8, 3, 3}, 1, 0, DType::F32));
  CHECK_FALSE(winograd_conv_applies({2, 8, 8, 8}, {8, 8, 1, 1}, 1, 0, DType::F32));
  CHECK_FALSE(winograd_conv_applies({2, 1, 8, 8}, {32, 1, 3, 3}, 1, 1, DType::F32));
  CHECK_FALSE(winograd_conv_applies({2, 32, 8, 8}, {1, 32, 3, 3}, 1, 1, DType::F32));
  CHECK_FALSE(winograd_backward_input_applies({2, 64, 8, 8}, {128, 64, 3, 3}, 1, 1, DType::F32));
  CHECK(winograd_backward_input_applies({2, 128, 8, 8}, {128, 128, 3, 3}, 1, 1, DType::F32));
}
