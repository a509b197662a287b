// Tests of the norm kernels (tensor/norm.h): layer norm, group norm and GroupNorm + SiLU, forward
// and backward, against the naive loops (float64 1e-10: the same formulas in another order;
// float32), with and without affine parameters, non-contiguous inputs, sizes that take the
// threaded paths, only the gradients asked for; hand-computed values; zero mean and unit variance;
// float32 against float64; the error messages.
#include <catch2/catch.hpp>

#include <cmath>

#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed, double mean = 0.0, double stddev = 1.0) {
  return Generator(seed).normal(shape, mean, stddev, DType::F64);
}

// groups == 0: layer norm; otherwise group norm with `act`. Forward and every gradient of the
// kernels against the naive loops, with one random upstream gradient.
void check_kernels(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b, double eps, double tol,
                   NormActivation act = NormActivation::None) {
  const bool layer = groups == 0;
  const NormForward f = layer ? layer_norm_forward(x, w, b, eps) : group_norm_forward(x, groups, w, b, eps, act);
  const NormForward r =
      layer ? layer_norm_forward_naive(x, w, b, eps) : group_norm_forward_naive(x, groups, w, b, eps, act);
  REQUIRE(f.y.shape() == x.shape());
  CHECK(max_abs_diff(f.y, r.y) < tol);
  CHECK(max_abs_diff(f.mean, r.mean) < tol);
  CHECK(max_abs_diff(f.rstd, r.rstd) < tol);
  const Tensor g = Generator(77).normal(x.shape(), 0.0, 1.0, x.dtype());
  const bool nw = w.defined(), nb = b.defined();
  const NormGrads d = layer ? layer_norm_backward(g, x, w, f.mean, f.rstd, true, nw, nb)
                            : group_norm_backward(g, x, groups, w, b, f.mean, f.rstd, act, true, nw, nb);
  const NormGrads e =
      layer ? layer_norm_backward_naive(g, x, w, b, eps) : group_norm_backward_naive(g, x, groups, w, b, eps, act);
  CHECK(max_abs_diff(d.input, e.input) < tol);
  CHECK(d.weight.defined() == nw);
  CHECK(d.bias.defined() == nb);
  if (nw) CHECK(max_abs_diff(d.weight, e.weight) < tol);
  if (nb) CHECK(max_abs_diff(d.bias, e.bias) < tol);
}

}  // namespace

TEST_CASE("norm kernels match the naive loops", "[norm]") {
  const Tensor x = randn64({3, 4, 6}, 1, 1.0, 2.0);
  SECTION("layer norm") {
    check_kernels(x, 0, randn64({6}, 2), randn64({6}, 3), 1e-5, 1e-10);
    check_kernels(x, 0, Tensor(), Tensor(), 1e-5, 1e-10);
    check_kernels(x, 0, randn64({6}, 4), Tensor(), 1e-3, 1e-10);
    check_kernels(x, 0, Tensor(), randn64({6}, 5), 1e-5, 1e-10);
    check_kernels(randn64({5, 3}, 39).transpose(0, 1), 0, randn64({5}, 40), randn64({5}, 41), 1e-5, 1e-10);
  }
  SECTION("group norm") {
    check_kernels(randn64({2, 6, 3, 4}, 10, 0.5, 2.0), 3, randn64({6}, 11), randn64({6}, 12), 1e-5, 1e-10);
    check_kernels(randn64({2, 4, 5}, 13), 2, randn64({4}, 14), randn64({4}, 15), 1e-5, 1e-10);
    check_kernels(randn64({2, 4, 2, 3}, 16), 1, Tensor(), Tensor(), 1e-5, 1e-10);
    check_kernels(randn64({3, 4, 2, 2}, 17), 4, randn64({4}, 18), Tensor(), 1e-5, 1e-10);
    check_kernels(randn64({2, 3, 3, 4}, 60).permute({0, 3, 1, 2}), 2, randn64({4}, 61), randn64({4}, 62), 1e-5, 1e-10);
  }
  SECTION("group norm + SiLU") {
    const NormActivation silu = NormActivation::SiLU;
    check_kernels(randn64({2, 4, 3, 3}, 1, 0.0, 2.0), 2, randn64({4}, 2), randn64({4}, 3), 1e-5, 1e-10, silu);
    check_kernels(randn64({3, 6, 5}, 4), 3, randn64({6}, 5), randn64({6}, 6), 1e-5, 1e-10, silu);
    check_kernels(randn64({2, 4, 3, 3}, 7), 2, Tensor(), Tensor(), 1e-5, 1e-10, silu);
  }
  SECTION("float32") {
    // float32 rounding on O(1) normalised values and sums over up to 72 terms: ~1e-6.
    const auto f32 = [](const Tensor& t) { return t.to(DType::F32); };
    check_kernels(f32(x), 0, f32(randn64({6}, 2)), f32(randn64({6}, 3)), 1e-5, 1e-4);
    check_kernels(f32(randn64({2, 6, 3, 4}, 10)), 3, f32(randn64({6}, 11)), f32(randn64({6}, 12)), 1e-5, 1e-4);
    check_kernels(f32(randn64({2, 6, 3, 4}, 10)), 3, f32(randn64({6}, 11)), f32(randn64({6}, 12)), 1e-5, 1e-4,
                  NormActivation::SiLU);
  }
}

TEST_CASE("norms on inputs large enough for the multithreaded kernel paths", "[norm]") {
  // parallel_for splits loops above ~32k flops: 256 rows of 64 (layer norm) and 32 groups of
  // 1024 values / 32 channels over 4 x 256 positions (group norm) take the threaded branches.
  check_kernels(randn64({256, 64}, 6, 0.5, 2.0), 0, randn64({64}, 7), randn64({64}, 8), 1e-5, 1e-10);
  check_kernels(randn64({4, 32, 16, 16}, 19), 8, randn64({32}, 20), randn64({32}, 21), 1e-5, 1e-10);
  // GroupNorm + SiLU: 64 groups of 4 channels x 256 positions.
  check_kernels(randn64({8, 32, 16, 16}, 8), 8, randn64({32}, 9), randn64({32}, 10), 1e-5, 1e-10, NormActivation::SiLU);
  // float32 against the float32 loops: same maths, float rounding (tolerance 1e-4).
  check_kernels(Generator(11).normal({8, 32, 16, 16}, 0.0, 1.0, DType::F32), 8,
                Generator(12).normal({32}, 0.0, 1.0, DType::F32), Generator(13).normal({32}, 0.0, 1.0, DType::F32),
                1e-5, 1e-4, NormActivation::SiLU);
}

TEST_CASE("layer norm and group norm hand-computed values", "[norm]") {
  // Row (1, 2, 3): mean 2, biased variance 2/3, so with eps = 0: (-sqrt(3/2), 0, sqrt(3/2)).
  const Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3}, DType::F64);
  const Tensor y = layer_norm_forward(x, Tensor(), Tensor(), 0.0).y;
  CHECK(y.at({0, 0}) == Approx(-std::sqrt(1.5)).epsilon(1e-14));
  CHECK(y.at({0, 1}) == Approx(0.0).margin(1e-14));
  CHECK(y.at({0, 2}) == Approx(std::sqrt(1.5)).epsilon(1e-14));
  // With weight (2, 2, 2), bias (1, 1, 1) and eps = 1: rstd = 1 / sqrt(2/3 + 1).
  const Tensor w = Tensor::full({3}, 2.0, DType::F64), b = Tensor::ones({3}, DType::F64);
  const Tensor y2 = layer_norm_forward(x, w, b, 1.0).y;
  CHECK(y2.at({0, 2}) == Approx(1.0 + 2.0 / std::sqrt(5.0 / 3.0)).epsilon(1e-14));
  // group norm with one group per channel pair: (B=1, C=4, L=1), groups 2: groups (0, 2) and (4, 8).
  const Tensor xg = Tensor::from_vector({0, 2, 4, 8}, {1, 4, 1}, DType::F64);
  const NormForward fg = group_norm_forward(xg, 2, Tensor(), Tensor(), 0.0);
  CHECK(max_abs_diff(fg.y, Tensor::from_vector({-1, 1, -1, 1}, {1, 4, 1}, DType::F64)) < 1e-14);
  CHECK(fg.mean.to_vector() == std::vector<double>{1, 6});
  CHECK(fg.rstd.to_vector() == std::vector<double>{1, 0.5});
}

TEST_CASE("normalised groups have zero mean and unit variance", "[norm]") {
  const Tensor y = group_norm_forward(randn64({2, 8, 4, 4}, 20, 3.0, 5.0), 4, Tensor(), Tensor(), 0.0).y;
  const Tensor yg = y.reshape({2, 4, -1});
  CHECK(max_abs_diff(mean(yg, {2}), Tensor::zeros({2, 4}, DType::F64)) < 1e-12);
  CHECK(max_abs_diff(var(yg, {2}, false, 0), Tensor::ones({2, 4}, DType::F64)) < 1e-12);
}

TEST_CASE("norm backward computes only the gradients asked for", "[norm]") {
  // Parameter gradients without the input gradient (a constant x): the same values.
  const Tensor x = randn64({2, 4, 3}, 65), w = randn64({4}, 66), b = randn64({4}, 67), g = randn64({2, 4, 3}, 68);
  for (NormActivation act : {NormActivation::None, NormActivation::SiLU}) {
    const NormForward f = group_norm_forward(x, 2, w, b, 1e-5, act);
    const NormGrads all = group_norm_backward(g, x, 2, w, b, f.mean, f.rstd, act, true, true, true);
    // Without the input gradient the weight is needed only by the SiLU.
    const Tensor w_read = act == NormActivation::SiLU ? w : Tensor();
    const NormGrads params = group_norm_backward(g, x, 2, w_read, b, f.mean, f.rstd, act, false, true, true);
    CHECK_FALSE(params.input.defined());
    CHECK(params.weight.to_vector() == all.weight.to_vector());
    CHECK(params.bias.to_vector() == all.bias.to_vector());
    const NormGrads input = group_norm_backward(g, x, 2, w, b, f.mean, f.rstd, act, true, false, false);
    CHECK((!input.weight.defined() && !input.bias.defined()));
    CHECK(input.input.to_vector() == all.input.to_vector());
  }
  const NormForward fl = layer_norm_forward(x, randn64({3}, 69), Tensor(), 1e-5);
  const NormGrads dl = layer_norm_backward(g, x, Tensor(), fl.mean, fl.rstd, false, true, false);
  CHECK((!dl.input.defined() && dl.weight.defined() && !dl.bias.defined()));
  CHECK(max_abs_diff(dl.weight, layer_norm_backward_naive(g, x, randn64({3}, 69), Tensor(), 1e-5).weight) < 1e-10);
}

TEST_CASE("norm kernels float32 agree with float64", "[norm]") {
  const Tensor x = randn64({4, 8, 4, 4}, 70, 1.0, 2.0), w = randn64({8}, 71), b = randn64({8}, 72);
  const Tensor g = randn64({4, 8, 4, 4}, 73);
  for (int which = 0; which < 2; ++which) {
    INFO((which == 0 ? "group norm" : "layer norm"));
    const Tensor wl = randn64({4}, 74), bl = randn64({4}, 75);
    const Tensor w64 = which == 0 ? w : wl, b64 = which == 0 ? b : bl;
    const Tensor x32 = x.to(DType::F32), w32 = w64.to(DType::F32), b32 = b64.to(DType::F32);
    const NormForward f64 =
        which == 0 ? group_norm_forward(x, 4, w64, b64, 1e-5) : layer_norm_forward(x, w64, b64, 1e-5);
    const NormForward f32 =
        which == 0 ? group_norm_forward(x32, 4, w32, b32, 1e-5) : layer_norm_forward(x32, w32, b32, 1e-5);
    // float32 rounding on O(1) normalised values and sums over up to 128 terms: ~1e-5.
    CHECK(max_abs_diff(f64.y, f32.y) < 1e-4);
    const auto backward = [&](const NormForward& f, const Tensor& gx, const Tensor& xx, const Tensor& ww) {
      return which == 0
                 ? group_norm_backward(gx, xx, 4, ww, Tensor(), f.mean, f.rstd, NormActivation::None, true, true, true)
                 : layer_norm_backward(gx, xx, ww, f.mean, f.rstd, true, true, true);
    };
    const NormGrads d64 = backward(f64, g, x, w64), d32 = backward(f32, g.to(DType::F32), x32, w32);
    CHECK(max_abs_diff(d64.input, d32.input) < 1e-3);
    CHECK(max_abs_diff(d64.weight, d32.weight) < 1e-3);
    CHECK(max_abs_diff(d64.bias, d32.bias) < 1e-3);
  }
}

TEST_CASE("norm kernels reject bad arguments with helpful messages", "[norm]") {
  const Tensor x = randn64({2, 6, 3, 3}, 80);
  CHECK_THROWS_WITH(group_norm_forward(x, 4, Tensor(), Tensor(), 1e-5),
                    Catch::Contains("group_norm") && Catch::Contains("divisible by groups (4)"));
  CHECK_THROWS_WITH(group_norm_forward(x, 4, Tensor(), Tensor(), 1e-5, NormActivation::SiLU),
                    Catch::Contains("group_norm_silu: channels (6)"));
  CHECK_THROWS_WITH(group_norm_forward(x, 3, randn64({3}, 81), Tensor(), 1e-5),
                    Catch::Contains("weight must have shape (6,)") && Catch::Contains("got (3,)"));
  CHECK_THROWS_WITH(layer_norm_forward(Tensor::scalar(1.0), Tensor(), Tensor(), 1e-5),
                    Catch::Contains("layer_norm") && Catch::Contains("0-d"));
  CHECK_THROWS_WITH(layer_norm_forward(randn64({4, 5}, 83), Tensor(), Tensor(), -1.0),
                    Catch::Contains("eps must be non-negative"));
  const NormForward f = group_norm_forward(x, 3, Tensor(), Tensor(), 1e-5);
  CHECK_THROWS_WITH(group_norm_backward(randn64({2, 6, 3, 2}, 84), x, 3, Tensor(), Tensor(), f.mean, f.rstd,
                                        NormActivation::None, true, false, false),
                    Catch::Contains("group_norm_backward") && Catch::Contains("grad_out (2, 6, 3, 3)") &&
                        Catch::Contains("got grad_out (2, 6, 3, 2)"));
}
