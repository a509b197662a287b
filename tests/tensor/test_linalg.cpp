// Tests of matmul, linear and gemm: the OpenBLAS paths against the naive triple loop and
// hand-computed products, in float32 and float64, for odd sizes, 1-d operands, batch
// broadcasting and transposed / non-contiguous operands; and the error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "tensor/tensor.h"
#include "test_util.h"

using namespace tinydiff;
using namespace tinydiff::test;

namespace {

// Tolerances: entries are sums of K products of N(0, 1) values (K <= 70 here), so the
// float32 rounding error is about sqrt(K) * 6e-8 * |terms| ~ 1e-5; 2e-4 leaves margin while
// any indexing mistake gives errors of order 1. float64 is held to 1e-10.
double tol(DType dtype) { return dtype == DType::F32 ? 2e-4 : 1e-10; }

}  // namespace

TEST_CASE("matmul of a 2x2 pair matches the hand-computed product", "[linalg]") {
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dt);
    const Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2}, dt);
    // [[1*5 + 2*7, 1*6 + 2*8], [3*5 + 4*7, 3*6 + 4*8]]
    const std::vector<double> expect{19, 22, 43, 50};
    CHECK(matmul(a, b).to_vector() == expect);
    CHECK(matmul_naive(a, b).to_vector() == expect);
    // a^T b through a transposed view: [[1*5 + 3*7, 1*6 + 3*8], [2*5 + 4*7, 2*6 + 4*8]]
    CHECK(matmul(a.transpose(0, 1), b).to_vector() == std::vector<double>{26, 30, 38, 44});
    CHECK(matmul(a, b).dtype() == dt);
  }
}

TEST_CASE("matmul with 1-d operands follows torch.matmul", "[linalg]") {
  const Tensor v = Tensor::from_vector({1, 2, 3}, {3}, DType::F64);
  const Tensor m = Tensor::from_vector({1, 0, 2, 1, 0, 3}, {3, 2}, DType::F64);  // rows (1,0), (2,1), (0,3)
  Tensor dot = matmul(v, v);
  CHECK(dot.dim() == 0);
  CHECK(dot.item() == 14.0);
  Tensor vm = matmul(v, m);  // (3) @ (3, 2) -> (2): (1 + 4 + 0, 0 + 2 + 9)
  CHECK(vm.shape() == Shape{2});
  CHECK(vm.to_vector() == std::vector<double>{5, 11});
  Tensor mv = matmul(m.transpose(0, 1), v);  // (2, 3) @ (3) -> (2)
  CHECK(mv.shape() == Shape{2});
  CHECK(mv.to_vector() == std::vector<double>{5, 11});
  // Batched matrix @ vector: (4, 2, 3) @ (3) -> (4, 2).
  Tensor bm = randn({4, 2, 3}, DType::F64, 1);
  CHECK(matmul(bm, v).shape() == Shape{4, 2});
  CHECK(max_abs_diff_of(matmul(bm, v), matmul_naive(bm, v)) < 1e-12);
  // vector @ batched matrix: (3) @ (4, 3, 2) -> (4, 2).
  Tensor bm2 = randn({4, 3, 2}, DType::F64, 2);
  CHECK(matmul(v, bm2).shape() == Shape{4, 2});
  CHECK(max_abs_diff_of(matmul(v, bm2), matmul_naive(v, bm2)) < 1e-12);
}

TEST_CASE("matmul_naive computes each entry as a plain dot product", "[linalg]") {
  // The oracle itself, checked entry by entry with at(): a wrong oracle would hide a wrong kernel.
  const Tensor a = randn({2, 3, 4}, DType::F64, 3), b = randn({4, 5}, DType::F64, 4);
  const Tensor c = matmul_naive(a, b);
  REQUIRE(c.shape() == Shape{2, 3, 5});
  for (int64_t bi = 0; bi < 2; ++bi)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        double s = 0.0;
        for (int64_t k = 0; k < 4; ++k) s += a.at({bi, i, k}) * b.at({k, j});
        CHECK(c.at({bi, i, j}) == Approx(s).epsilon(1e-14));
      }
}

TEST_CASE("matmul matches matmul_naive across shapes, layouts and dtypes", "[linalg]") {
  struct Case {
    const char* name;
    Tensor a, b;
    Shape expect;
  };
  for (DType dt : {DType::F32, DType::F64}) {
    uint32_t s = dt == DType::F32 ? 100 : 200;
    std::vector<Case> cases = {
        {"odd 2-d", randn({5, 7}, dt, s + 1), randn({7, 3}, dt, s + 2), {5, 3}},
        {"larger 2-d", randn({130, 70}, dt, s + 3), randn({70, 90}, dt, s + 4), {130, 90}},
        {"row times matrix", randn({1, 9}, dt, s + 5), randn({9, 4}, dt, s + 6), {1, 4}},
        {"batched equal", randn({2, 3, 5, 7}, dt, s + 7), randn({2, 3, 7, 4}, dt, s + 8), {2, 3, 5, 4}},
        {"batch broadcast both", randn({3, 1, 5, 7}, dt, s + 9), randn({4, 7, 6}, dt, s + 10), {3, 4, 5, 6}},
        {"shared b (folded)", randn({2, 5, 7}, dt, s + 11), randn({7, 4}, dt, s + 12), {2, 5, 4}},
        {"shared a", randn({5, 7}, dt, s + 13), randn({2, 7, 4}, dt, s + 14), {2, 5, 4}},
        {"a transposed", randn({7, 5}, dt, s + 15).transpose(0, 1), randn({7, 3}, dt, s + 16), {5, 3}},
        {"b transposed", randn({5, 7}, dt, s + 17), randn({3, 7}, dt, s + 18).transpose(0, 1), {5, 3}},
        {"both batched transposed",
         randn({2, 3, 8, 6}, dt, s + 19).transpose(-2, -1),
         randn({2, 3, 6, 8}, dt, s + 20).transpose(-2, -1),
         {2, 3, 6, 6}},
        {"stepped last axis (copied)",
         randn({5, 14}, dt, s + 21).slice(1, 0, 14, 2),
         randn({7, 3}, dt, s + 22),
         {5, 3}},
        {"expanded rows (copied)", randn({1, 7}, dt, s + 23).expand({5, 7}), randn({7, 3}, dt, s + 24), {5, 3}},
        {"permuted batch (not foldable)",
         randn({5, 2, 7}, dt, s + 25).transpose(0, 1),
         randn({7, 4}, dt, s + 26),
         {2, 5, 4}},
        {"many small (parallel batches)", randn({64, 8, 16}, dt, s + 27), randn({64, 16, 8}, dt, s + 28), {64, 8, 8}},
        {"attention-like",
         randn({4, 2, 16, 8}, dt, s + 29),
         randn({4, 2, 16, 8}, dt, s + 30).transpose(-2, -1),
         {4, 2, 16, 16}},
        {"sliced batch", randn({6, 5, 7}, dt, s + 31).slice(0, 1, 6, 2), randn({3, 7, 2}, dt, s + 32), {3, 5, 2}},
    };
    for (const Case& c : cases) {
      INFO(c.name << " " << dtype_name(dt));
      const Tensor fast = matmul(c.a, c.b);
      CHECK(fast.shape() == c.expect);
      CHECK(fast.is_contiguous());
      CHECK(max_abs_diff_of(fast, matmul_naive(c.a, c.b)) < tol(dt));
    }
  }
}

TEST_CASE("matmul handles empty extents", "[linalg]") {
  const Tensor a = Tensor::zeros({3, 0}), b = Tensor::zeros({0, 4});
  Tensor c = matmul(a, b);  // K = 0: a zero matrix
  CHECK(c.shape() == Shape{3, 4});
  CHECK(c.to_vector() == std::vector<double>(12, 0.0));
  CHECK(matmul(Tensor::zeros({0, 5}), Tensor::zeros({5, 2})).shape() == Shape{0, 2});
}

TEST_CASE("linear equals x W^T + b for any layout", "[linalg]") {
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor w = randn({3, 6}, dt, 40), b = randn({3}, dt, 41);
    // Reference: x @ W^T through the naive loop, plus b added per row by hand.
    auto reference = [&](const Tensor& x, const Tensor& wt, const Tensor& bias) {
      Tensor y = matmul_naive(x, wt.transpose(0, 1)).contiguous();
      if (bias.defined()) {
        const int64_t out = bias.size(0);
        Tensor flat = y.reshape({-1, out});
        for (int64_t r = 0; r < flat.size(0); ++r)
          for (int64_t o = 0; o < out; ++o) flat.set({r, o}, flat.at({r, o}) + bias.at({o}));
      }
      return y;
    };
    const Tensor x3 = randn({4, 5, 6}, dt, 42);
    Tensor y = linear(x3, w, b);
    CHECK(y.shape() == Shape{4, 5, 3});
    CHECK(max_abs_diff_of(y, reference(x3, w, b)) < tol(dt));
    CHECK(max_abs_diff_of(linear(x3, w), reference(x3, w, Tensor())) < tol(dt));
    // Column-major x (a transposed view), a transposed weight and a 1-d x.
    const Tensor xt = randn({6, 5}, dt, 43).transpose(0, 1);
    const Tensor wt = randn({6, 3}, dt, 44).transpose(0, 1);  // (3, 6), column-major
    CHECK(max_abs_diff_of(linear(xt, wt, b), reference(xt, wt, b)) < tol(dt));
    const Tensor x1 = randn({6}, dt, 45);
    Tensor y1 = linear(x1, w, b);
    CHECK(y1.shape() == Shape{3});
    CHECK(max_abs_diff_of(y1, reference(x1, w, b)) < tol(dt));
  }
  // By hand: x = (1, 2), W = [[1, 1], [0, 3]], b = (10, 20) -> (1 + 2 + 10, 6 + 20).
  Tensor y = linear(Tensor::from_vector({1, 2}, {1, 2}), Tensor::from_vector({1, 1, 0, 3}, {2, 2}),
                    Tensor::from_vector({10, 20}, {2}));
  CHECK(y.to_vector() == std::vector<double>{13, 26});
}

TEST_CASE("gemm honours transposes, leading dimensions, alpha and beta", "[linalg]") {
  // op(A) (3 x 2) = A^T where A is (2 x 3) stored with lda = 4 (one padding column of -1).
  const std::vector<double> a{1, 2, 3, -1, 4, 5, 6, -1};  // A = [[1,2,3],[4,5,6]], pad -1
  const std::vector<double> b{1, 0, 2, 1};                // B = [[1, 0], [2, 1]] (2 x 2)
  std::vector<double> c{1, 1, 9, 1, 1, 9, 1, 1, 9};       // C (3 x 2) with ldc = 3
  // C <- 2 A^T B + 0.5 C. A^T B = [[1+8, 4], [2+10, 5], [3+12, 6]] = [[9,4],[12,5],[15,6]].
  gemm<double>(true, false, 3, 2, 2, 2.0, a.data(), 4, b.data(), 2, 0.5, c.data(), 3);
  CHECK(c == std::vector<double>{18.5, 8.5, 9, 24.5, 10.5, 9, 30.5, 12.5, 9});
  // float, trans_b: C (2 x 2) = A (2 x 3) B^T where B is (2 x 3).
  const std::vector<float> af{1, 2, 3, 4, 5, 6}, bf{1, 0, 1, 0, 1, 0};
  std::vector<float> cf(4, 7.0f);  // beta = 0 overwrites
  gemm<float>(false, true, 2, 2, 3, 1.0f, af.data(), 3, bf.data(), 3, 0.0f, cf.data(), 2);
  CHECK(cf == std::vector<float>{4, 2, 10, 5});
  // k = 0: C <- beta C.
  std::vector<double> c0{1, 2};
  gemm<double>(false, false, 1, 2, 0, 1.0, a.data(), 1, b.data(), 2, 3.0, c0.data(), 2);
  CHECK(c0 == std::vector<double>{3, 6});
  CHECK_THROWS_WITH(gemm<double>(false, false, 2, 2, 3, 1.0, a.data(), 2, b.data(), 2, 0.0, c.data(), 2),
                    Catch::Contains("leading dimensions too small"));
}

TEST_CASE("the linked BLAS is OpenBLAS's OpenMP build", "[linalg]") {
  CHECK_NOTHROW(check_blas_is_openmp());
  const std::string info = blas_info();
  CHECK_THAT(info, Catch::StartsWith("OpenBLAS "));
  CHECK_THAT(info, Catch::Contains("(OpenMP build"));
  CHECK_THAT(info, Catch::Contains("threads"));
}

TEST_CASE("matmul and linear explain bad inputs", "[linalg]") {
  CHECK_THROWS_WITH(matmul(Tensor::zeros({64, 32}), Tensor::zeros({16, 8})),
                    Catch::Contains("matmul: inner dimensions differ: (64, 32) @ (16, 8)"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({3}), Tensor::zeros({4})),
                    Catch::Contains("matmul: inner dimensions differ: (3,) @ (4,)"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({5, 4, 6})),
                    Catch::Contains("batch dimensions do not broadcast: (2, 3, 4) @ (5, 4, 6)"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 2}), Tensor::zeros({2, 2}, DType::F64)),
                    Catch::Contains("matmul: dtypes differ"));
  CHECK_THROWS_WITH(matmul(Tensor::scalar(1.0), Tensor::zeros({2})), Catch::Contains("at least one axis"));
  CHECK_THROWS_WITH(matmul(Tensor::from_indices({1, 2}, {2}), Tensor::zeros({2})),
                    Catch::Contains("expected a float32 or float64 tensor"));
  CHECK_THROWS_WITH(linear(Tensor::zeros({4, 5}), Tensor::zeros({3, 6})),
                    Catch::Contains("linear: x (4, 5) has 5 input features but weight (3, 6) expects 6"));
  CHECK_THROWS_WITH(linear(Tensor::zeros({4, 6}), Tensor::zeros({3, 6}), Tensor::zeros({4})),
                    Catch::Contains("bias has shape (4,) but weight (3, 6) needs (3,)"));
}
