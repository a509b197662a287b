// Tests of the scaled_dot_product_attention op: values and gradients against
// scaled_dot_product_attention_naive (matmul -> scale -> add mask -> softmax -> matmul), float64 gradchecks with and
// without a key mask (and with non-contiguous q/k views), the all-masked row (gradcheck, same as the composition), a
// small attention block (linear projections -> heads -> attention -> linear) gradchecked end to end, and the shape
// errors. The kernels (threaded sizes, all-masked zeros, float32): tests/tensor/test_attention.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed, double stddev = 1.0) {
  return Generator(seed).normal(shape, 0.0, stddev, DType::F64);
}

// Key mask (B = 2, Lk = 5): batch 0 keeps keys 0, 2, 3; batch 1 keeps keys 1 and 4.
Tensor example_mask() { return Tensor::from_vector({1, 0, 1, 1, 0, 0, 1, 0, 0, 1}, {2, 5}, DType::F64); }

void check_matches_composition(const Tensor& key_mask, std::optional<double> scale) {
  const Tensor q0 = randn64({2, 2, 3, 4}, 1), k0 = randn64({2, 2, 5, 4}, 2), v0 = randn64({2, 2, 5, 3}, 3);
  const double s = scale.value_or(0.5);  // default 1/sqrt(D) = 1/2 for D = 4
  Variable q1(q0, true), k1(k0, true), v1(v0, true);
  Variable q2(q0, true), k2(k0, true), v2(v0, true);
  Variable o1 = scaled_dot_product_attention(q1, k1, v1, key_mask, scale);
  Variable o2 = scaled_dot_product_attention_naive(q2, k2, v2, key_mask, s);
  REQUIRE(o1.shape() == (Shape{2, 2, 3, 3}));
  // float64, same formulas in a different order: ~1e-15; 1e-12 bounds it.
  CHECK(max_abs_diff(o1.value(), o2.value()) < 1e-12);
  const Tensor g = randn64(o1.shape(), 4);
  o1.backward(g);
  o2.backward(g);
  CHECK(max_abs_diff(q1.grad(), q2.grad()) < 1e-12);
  CHECK(max_abs_diff(k1.grad(), k2.grad()) < 1e-12);
  CHECK(max_abs_diff(v1.grad(), v2.grad()) < 1e-12);
}

auto sdpa_fn(Tensor key_mask = Tensor(), std::optional<double> scale = std::nullopt) {
  return [key_mask, scale](const std::vector<Variable>& v) {
    return scaled_dot_product_attention(v[0], v[1], v[2], key_mask, scale);
  };
}

}  // namespace

TEST_CASE("attention matches matmul -> mask -> softmax -> matmul", "[autograd][attention]") {
  SECTION("no mask, default scale") { check_matches_composition(Tensor(), std::nullopt); }
  SECTION("key mask") { check_matches_composition(example_mask(), std::nullopt); }
  SECTION("key mask as float32, custom scale") { check_matches_composition(example_mask().to(DType::F32), 0.8); }
}

TEST_CASE("attention gradcheck with and without a mask", "[autograd][attention]") {
  const Tensor q = randn64({2, 2, 3, 4}, 10), k = randn64({2, 2, 5, 4}, 11), v = randn64({2, 2, 5, 3}, 12);
  CHECK_GRADCHECK("attention", sdpa_fn(), {q, k, v});
  CHECK_GRADCHECK("attention masked", sdpa_fn(example_mask()), {q, k, v});
  CHECK_GRADCHECK("attention scale 0.3", sdpa_fn(Tensor(), 0.3), {q, k, v});
  // Lq = Lk (self-attention shapes), D != Dv.
  CHECK_GRADCHECK("attention self", sdpa_fn(),
                  {randn64({1, 3, 4, 2}, 13), randn64({1, 3, 4, 2}, 14), randn64({1, 3, 4, 5}, 15)});
}

TEST_CASE("attention gradcheck on non-contiguous q, k, v views", "[autograd][attention]") {
  // k given as the transpose of a (B, H, D, Lk) tensor; q and v as permutes of (B, L, H, D).
  const Tensor k = randn64({2, 2, 4, 5}, 20).transpose(-2, -1);
  const Tensor q = randn64({2, 3, 2, 4}, 21).permute({0, 2, 1, 3});
  const Tensor v = randn64({2, 5, 2, 3}, 22).permute({0, 2, 1, 3});
  REQUIRE_FALSE(k.is_contiguous());
  CHECK_GRADCHECK("attention views", sdpa_fn(example_mask()), {q, k, v});
  // The transpose taken inside the graph: attention(q, transpose(kt)) with kt (B, H, D, Lk).
  CHECK_GRADCHECK(
      "attention transpose in graph",
      [](const std::vector<Variable>& x) { return scaled_dot_product_attention(x[0], transpose(x[1], -2, -1), x[2]); },
      {randn64({1, 2, 3, 4}, 23), randn64({1, 2, 4, 5}, 24), randn64({1, 2, 5, 2}, 25)});
}

TEST_CASE("attention: a query whose keys are all masked, gradcheck and composition", "[autograd][attention]") {
  // Batch 1 masks every key; batch 0 keeps some. Zeros, no NaN: tests/tensor/test_attention.cpp.
  const Tensor mask = Tensor::from_vector({1, 1, 0, 0, 0, 0}, {2, 3}, DType::F64);
  Variable q(randn64({2, 2, 4, 3}, 30), true), k(randn64({2, 2, 3, 3}, 31), true), v(randn64({2, 2, 3, 2}, 32), true);
  Variable o = scaled_dot_product_attention(q, k, v, mask);
  REQUIRE(all_finite(o.value()));
  sum(mul(o, o)).backward();
  CHECK_GRADCHECK("attention all-masked batch", sdpa_fn(mask), {q.value(), k.value(), v.value()});
  // The naive reference defines the same convention: equal values and gradients.
  Variable q2(q.value(), true), k2(k.value(), true), v2(v.value(), true);
  Variable o2 = scaled_dot_product_attention_naive(q2, k2, v2, mask);
  CHECK(max_abs_diff(o.value(), o2.value()) < 1e-12);
  sum(mul(o2, o2)).backward();
  CHECK(max_abs_diff(q.grad(), q2.grad()) < 1e-12);
  CHECK(max_abs_diff(k.grad(), k2.grad()) < 1e-12);
  CHECK(max_abs_diff(v.grad(), v2.grad()) < 1e-12);
}

TEST_CASE("attention block: linear projections -> heads -> attention -> linear, gradcheck", "[autograd][attention]") {
  // x: (B = 2, L = 3, E = 4), 2 heads of size 2, key padding mask on the last token of batch 1.
  const int64_t B = 2, L = 3, E = 4, H = 2, Dh = 2;
  const Tensor mask = Tensor::from_vector({1, 1, 1, 1, 1, 0}, {B, L}, DType::F64);
  auto block = [&](const std::vector<Variable>& p) {
    const Variable& x = p[0];
    auto heads = [&](const Variable& t) { return permute(reshape(t, {B, L, H, Dh}), {0, 2, 1, 3}); };  // (B, H, L, Dh)
    Variable q = heads(linear(x, p[1], p[2]));
    Variable k = heads(linear(x, p[3]));
    Variable v = heads(linear(x, p[4]));
    Variable o = scaled_dot_product_attention(q, k, v, mask);  // (B, H, L, Dh)
    o = reshape(permute(o, {0, 2, 1, 3}), {B, L, E});          // (B, L, E)
    return linear(o, p[5], p[6]);                              // (B, L, E)
  };
  CHECK_GRADCHECK("attention block", block,
                  {randn64({B, L, E}, 50), randn64({E, E}, 51, 0.7), randn64({E}, 52), randn64({E, E}, 53, 0.7),
                   randn64({E, E}, 54, 0.7), randn64({E, E}, 55, 0.7), randn64({E}, 56)});
}

TEST_CASE("attention rejects bad shapes with helpful messages", "[autograd][attention]") {
  Variable q(randn64({2, 2, 3, 4}, 60)), k(randn64({2, 2, 5, 4}, 61)), v(randn64({2, 2, 5, 3}, 62));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, Variable(randn64({2, 2, 5, 3}, 63)), v),
                    Catch::Contains("scaled_dot_product_attention") && Catch::Contains("same feature size D"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, Variable(randn64({2, 2, 4, 3}, 64))),
                    Catch::Contains("same length Lk"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, Variable(randn64({2, 3, 5, 4}, 65)), v),
                    Catch::Contains("batch and head axes"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(Variable(randn64({2, 3, 4}, 66)), k, v),
                    Catch::Contains("(B, H, Lq, D)"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, v, Tensor::ones({2, 4}, DType::F64)),
                    Catch::Contains("key_mask must have shape (B, Lk) = (2, 5), got (2, 4)"));
}
