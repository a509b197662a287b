// Tests of the differentiable matmul and linear: float64 gradchecks (2-d, batched, broadcast
// batch axes, 1-d promotion, non-contiguous views), gradients against hand-built products with
// matmul_naive, linear against the matmul + add composition, and shape errors.
#include <catch2/catch.hpp>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed) { return Generator(seed).normal(shape, 0.0, 1.0, DType::F64); }

Variable mm(const std::vector<Variable>& v) { return matmul(v[0], v[1]); }

}  // namespace

// Tolerances: gradcheck defaults (eps 1e-6, atol 1e-5, rtol 1e-3); matmul is bilinear, so the
// central difference is exact up to rounding and errors are ~1e-10.

TEST_CASE("matmul gradcheck: 2-d, batched and broadcast batch axes", "[autograd][linalg]") {
  CHECK_GRADCHECK("matmul 2-d", mm, {randn64({3, 4}, 1), randn64({4, 5}, 2)});
  CHECK_GRADCHECK("matmul batched", mm, {randn64({2, 3, 4}, 3), randn64({2, 4, 5}, 4)});
  // Batch axes broadcast both ways: (2, 1, 3, 4) @ (3, 4, 2) -> (2, 3, 3, 2).
  CHECK_GRADCHECK("matmul broadcast", mm, {randn64({2, 1, 3, 4}, 5), randn64({3, 4, 2}, 6)});
  // N-d @ 2-d (the flattened single-GEMM path for dB) and 2-d @ N-d (dA summed over the batch).
  CHECK_GRADCHECK("matmul Nd @ 2d", mm, {randn64({2, 3, 3, 4}, 7), randn64({4, 2}, 8)});
  CHECK_GRADCHECK("matmul 2d @ Nd", mm, {randn64({3, 4}, 9), randn64({2, 4, 2}, 10)});
}

TEST_CASE("matmul gradcheck: 1-d operands follow torch.matmul", "[autograd][linalg]") {
  CHECK_GRADCHECK("matmul vec @ mat", mm, {randn64({4}, 11), randn64({4, 3}, 12)});
  CHECK_GRADCHECK("matmul mat @ vec", mm, {randn64({2, 3, 4}, 13), randn64({4}, 14)});
  CHECK_GRADCHECK("matmul vec @ vec", mm, {randn64({5}, 15), randn64({5}, 16)});
  CHECK_GRADCHECK("matmul vec @ batched", mm, {randn64({4}, 17), randn64({2, 4, 3}, 18)});
  Variable a(randn64({4}, 19)), b(randn64({4, 3}, 20));
  CHECK(matmul(a, b).shape() == Shape{3});
  CHECK(matmul(a, Variable(randn64({4}, 21))).shape() == Shape{});
}

TEST_CASE("matmul gradcheck on non-contiguous views", "[autograd][linalg]") {
  // Inputs that are themselves transposed views: each element is perturbed through the view.
  CHECK_GRADCHECK("matmul transposed inputs", mm,
                  {randn64({4, 3}, 22).transpose(0, 1), randn64({2, 5, 4}, 23).transpose(-2, -1)});
  // q @ k^T with the transpose taken inside the graph, the attention pattern.
  CHECK_GRADCHECK("matmul q k^T", [](const std::vector<Variable>& v) { return matmul(v[0], transpose(v[1], -2, -1)); },
                  {randn64({2, 2, 3, 4}, 24), randn64({2, 2, 5, 4}, 25)});
}

TEST_CASE("matmul gradients equal dY B^T and A^T dY (checked with matmul_naive)", "[autograd][linalg]") {
  // Broadcast case: a (3, 4) is shared by the batch of b (2, 4, 5): dA sums over the batch.
  Variable a(randn64({3, 4}, 30), true), b(randn64({2, 4, 5}, 31), true);
  Variable y = matmul(a, b);  // (2, 3, 5)
  REQUIRE(y.shape() == (Shape{2, 3, 5}));
  CHECK(max_abs_diff(y.value(), matmul_naive(a.value(), b.value())) < 1e-12);
  Tensor g = randn64({2, 3, 5}, 32);
  y.backward(g);
  Tensor da_ref = sum(matmul_naive(g, b.value().transpose(1, 2)), {0});                       // (3, 4)
  Tensor db_ref = matmul_naive(a.value().transpose(0, 1).unsqueeze(0).expand({2, 4, 3}), g);  // (2, 4, 5)
  CHECK(max_abs_diff(a.grad(), da_ref) < 1e-12);
  CHECK(max_abs_diff(b.grad(), db_ref) < 1e-12);
}

TEST_CASE("matmul saves and computes only the gradients that are needed", "[autograd][linalg]") {
  Variable a(randn64({3, 4}, 33), true), b(randn64({4, 2}, 34), false);
  sum(matmul(a, b)).backward();
  CHECK(a.has_grad());
  CHECK_FALSE(b.has_grad());
  // d sum(A B) / dA = 1 B^T: every row of dA is the row sums of B.
  Tensor expect = sum(b.value(), {1}).unsqueeze(0).expand({3, 4});
  CHECK(max_abs_diff(a.grad(), expect) < 1e-12);
}

TEST_CASE("matmul float32 gradients agree with float64", "[autograd][linalg]") {
  Tensor a64 = randn64({2, 8, 16}, 35), b64 = randn64({16, 8}, 36), g64 = randn64({2, 8, 8}, 37);
  Variable a32(a64.to(DType::F32), true), b32(b64.to(DType::F32), true);
  Variable a(a64, true), b(b64, true);
  matmul(a32, b32).backward(g64.to(DType::F32));
  matmul(a, b).backward(g64);
  // float32 rounding over sums of 8-16 products of O(1) values: ~1e-5; 1e-4 leaves margin.
  CHECK(max_abs_diff(a32.grad(), a.grad()) < 1e-4);
  CHECK(max_abs_diff(b32.grad(), b.grad()) < 1e-4);
}

TEST_CASE("linear gradcheck with and without bias, 1-d to 3-d inputs", "[autograd][linalg]") {
  auto lin = [](const std::vector<Variable>& v) { return linear(v[0], v[1], v[2]); };
  auto lin_nobias = [](const std::vector<Variable>& v) { return linear(v[0], v[1]); };
  CHECK_GRADCHECK("linear 2-d", lin, {randn64({4, 3}, 40), randn64({5, 3}, 41), randn64({5}, 42)});
  CHECK_GRADCHECK("linear 3-d", lin, {randn64({2, 3, 3}, 43), randn64({2, 3}, 44), randn64({2}, 45)});
  CHECK_GRADCHECK("linear 1-d", lin, {randn64({3}, 46), randn64({4, 3}, 47), randn64({4}, 48)});
  CHECK_GRADCHECK("linear no bias", lin_nobias, {randn64({2, 3, 3}, 49), randn64({4, 3}, 50)});
  // A transposed (non-contiguous) input, as after a permute in a model.
  CHECK_GRADCHECK("linear non-contiguous x", lin,
                  {randn64({3, 4}, 51).transpose(0, 1), randn64({2, 3}, 52), randn64({2}, 53)});
}

TEST_CASE("linear equals matmul(x, W^T) + b in values and gradients", "[autograd][linalg]") {
  const Tensor x0 = randn64({2, 3, 4}, 60), w0 = randn64({5, 4}, 61), b0 = randn64({5}, 62);
  const Tensor g = randn64({2, 3, 5}, 63);
  Variable x1(x0, true), w1(w0, true), b1(b0, true);
  Variable x2(x0, true), w2(w0, true), b2(b0, true);
  Variable y1 = linear(x1, w1, b1);
  Variable y2 = add(matmul(x2, transpose(w2, 0, 1)), b2);
  REQUIRE(y1.shape() == (Shape{2, 3, 5}));
  CHECK(max_abs_diff(y1.value(), y2.value()) < 1e-12);
  y1.backward(g);
  y2.backward(g);
  CHECK(max_abs_diff(x1.grad(), x2.grad()) < 1e-12);
  CHECK(max_abs_diff(w1.grad(), w2.grad()) < 1e-12);
  CHECK(max_abs_diff(b1.grad(), b2.grad()) < 1e-12);
  // db is the sum of dy over both leading axes.
  CHECK(max_abs_diff(b1.grad(), sum(g, {0, 1})) < 1e-12);
}

TEST_CASE("linear and matmul reject bad shapes with helpful messages", "[autograd][linalg]") {
  Variable x(randn64({2, 3}, 70)), w(randn64({4, 5}, 71)), b(randn64({3}, 72));
  CHECK_THROWS_WITH(linear(x, w), Catch::Contains("linear") && Catch::Contains("(2, 3)") && Catch::Contains("(4, 5)"));
  Variable w_ok(randn64({4, 3}, 73));
  CHECK_THROWS_WITH(linear(x, w_ok, b), Catch::Contains("linear") && Catch::Contains("bias"));
  CHECK_THROWS_WITH(linear(x, Variable(randn64({3}, 74))), Catch::Contains("(out, in)"));
  CHECK_THROWS_WITH(matmul(x, w), Catch::Contains("matmul"));
  CHECK_THROWS_WITH(matmul(x, Variable(Tensor::ones({3, 2}, DType::F32))), Catch::Contains("dtypes differ"));
}
