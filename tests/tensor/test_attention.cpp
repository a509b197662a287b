// Tests of the attention kernels (tensor/attention.h): attention_forward and attention_backward
// against attention_forward_naive / attention_backward_naive (triple-loop matmul, softmax loops)
// with and without a key mask and a custom scale, on sizes that take the threaded paths; only the
// gradients asked for; a query whose keys are all masked (zeros, no NaN, no gradient); float32
// against float64.
#include <catch2/catch.hpp>

#include <optional>

#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed, double stddev = 1.0) {
  return Generator(seed).normal(shape, 0.0, stddev, DType::F64);
}

// Key mask (B = 2, Lk = 5): batch 0 keeps keys 0, 2, 3; batch 1 keeps keys 1 and 4.
Tensor example_mask() { return Tensor::from_vector({1, 0, 1, 1, 0, 0, 1, 0, 0, 1}, {2, 5}, DType::F64); }

// Forward and every gradient of the kernels against the naive references, within tol.
void check_kernels(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                   std::optional<double> scale, double tol) {
  const AttentionForward f = attention_forward(q, k, v, key_mask, scale);
  const AttentionForward r = attention_forward_naive(q, k, v, key_mask, scale);
  CHECK(f.scale == r.scale);
  CHECK(max_abs_diff(f.out, r.out) < tol);
  CHECK(max_abs_diff(f.probs, r.probs) < tol);
  const Tensor g = randn64(f.out.shape(), 4).to(q.dtype());
  const AttentionGrads d = attention_backward(g, f.probs, q, k, v, f.scale, true, true, true);
  const AttentionGrads e = attention_backward_naive(g, r.probs, q, k, v, r.scale);
  CHECK(max_abs_diff(d.q, e.q) < tol);
  CHECK(max_abs_diff(d.k, e.k) < tol);
  CHECK(max_abs_diff(d.v, e.v) < tol);
}

}  // namespace

TEST_CASE("attention kernels match the naive references", "[attention]") {
  const Tensor q = randn64({2, 2, 3, 4}, 1), k = randn64({2, 2, 5, 4}, 2), v = randn64({2, 2, 5, 3}, 3);
  // float64, same formulas in a different order: ~1e-15; 1e-12 bounds it.
  SECTION("no mask, default scale") { check_kernels(q, k, v, Tensor(), std::nullopt, 1e-12); }
  SECTION("key mask") { check_kernels(q, k, v, example_mask(), std::nullopt, 1e-12); }
  SECTION("key mask as float32, custom scale") { check_kernels(q, k, v, example_mask().to(DType::F32), 0.8, 1e-12); }
  SECTION("non-contiguous q, k, v views") {
    check_kernels(randn64({2, 3, 2, 4}, 21).permute({0, 2, 1, 3}), randn64({2, 2, 4, 5}, 20).transpose(-2, -1),
                  randn64({2, 5, 2, 3}, 22).permute({0, 2, 1, 3}), example_mask(), std::nullopt, 1e-12);
  }
  SECTION("float32") {
    // float32 rounding through GEMMs of length 4 and 5 and a softmax: ~1e-6.
    check_kernels(q.to(DType::F32), k.to(DType::F32), v.to(DType::F32), example_mask(), std::nullopt, 1e-5);
  }
}

TEST_CASE("attention on inputs large enough for the multithreaded kernel paths", "[attention]") {
  // 2 x 2 x 64 query rows of 64 keys exceed parallel_for's ~32k-flop threshold.
  const Tensor q = randn64({2, 2, 64, 16}, 5), k = randn64({2, 2, 64, 16}, 6), v = randn64({2, 2, 64, 8}, 7);
  Tensor mask = Tensor::ones({2, 64}, DType::F64);
  for (int64_t j = 40; j < 64; ++j) mask.set({1, j}, 0.0);  // pad the tail of batch 1
  check_kernels(q, k, v, mask, std::nullopt, 1e-12);
  check_kernels(q, k, v, Tensor(), std::nullopt, 1e-12);
}

TEST_CASE("attention_backward computes only the gradients asked for", "[attention]") {
  const Tensor q = randn64({2, 2, 3, 4}, 10), k = randn64({2, 2, 5, 4}, 11), v = randn64({2, 2, 5, 3}, 12);
  const AttentionForward f = attention_forward(q, k, v, example_mask());
  const Tensor g = randn64(f.out.shape(), 13);
  const AttentionGrads all = attention_backward(g, f.probs, q, k, v, f.scale, true, true, true);
  // dQ reads k and v only, dK reads q and v only, dV reads neither.
  const AttentionGrads dq = attention_backward(g, f.probs, Tensor(), k, v, f.scale, true, false, false);
  const AttentionGrads dk = attention_backward(g, f.probs, q, Tensor(), v, f.scale, false, true, false);
  const AttentionGrads dv = attention_backward(g, f.probs, Tensor(), Tensor(), Tensor(), f.scale, false, false, true);
  CHECK((dq.q.defined() && !dq.k.defined() && !dq.v.defined()));
  CHECK((!dk.q.defined() && dk.k.defined() && !dk.v.defined()));
  CHECK((!dv.q.defined() && !dv.k.defined() && dv.v.defined()));
  CHECK(dq.q.to_vector() == all.q.to_vector());
  CHECK(dk.k.to_vector() == all.k.to_vector());
  CHECK(dv.v.to_vector() == all.v.to_vector());
}

TEST_CASE("attention kernels: a query whose keys are all masked yields zeros, no NaN", "[attention]") {
  // Batch 1 masks every key; batch 0 keeps some.
  const Tensor mask = Tensor::from_vector({1, 1, 0, 0, 0, 0}, {2, 3}, DType::F64);
  const Tensor q = randn64({2, 2, 4, 3}, 30), k = randn64({2, 2, 3, 3}, 31), v = randn64({2, 2, 3, 2}, 32);
  const AttentionForward f = attention_forward(q, k, v, mask);
  const Tensor& o = f.out;
  REQUIRE(all_finite(o));
  CHECK(max_abs_diff(o.slice(0, 1, 2), Tensor::zeros({1, 2, 4, 2}, DType::F64)) == 0.0);
  // Batch 0 is unaffected: it equals attention over its two kept keys alone.
  const Tensor o0 =
      attention_forward(q.slice(0, 0, 1), k.slice(0, 0, 1).slice(2, 0, 2), v.slice(0, 0, 1).slice(2, 0, 2)).out;
  CHECK(max_abs_diff(o.slice(0, 0, 1), o0) < 1e-12);
  // The gradient of sum(o * o): upstream 2 o.
  const AttentionGrads d = attention_backward(mul(o, 2.0), f.probs, q, k, v, f.scale, true, true, true);
  for (const Tensor* x : {&d.q, &d.k, &d.v}) {
    REQUIRE(all_finite(*x));
    CHECK(max_abs_diff(x->slice(0, 1, 2), Tensor::zeros(x->slice(0, 1, 2).shape(), DType::F64)) == 0.0);
  }
  // Masked keys of batch 0 (key 2) receive no gradient either.
  CHECK(max_abs_diff(d.k.slice(0, 0, 1).slice(2, 2, 3), Tensor::zeros({1, 2, 1, 3}, DType::F64)) == 0.0);
  // The naive references define the same convention.
  check_kernels(q, k, v, mask, std::nullopt, 1e-12);
}

TEST_CASE("attention kernels float32 agree with float64", "[attention]") {
  const Tensor q = randn64({2, 2, 8, 16}, 40), k = randn64({2, 2, 8, 16}, 41), v = randn64({2, 2, 8, 16}, 42);
  const Tensor g = randn64({2, 2, 8, 16}, 43);
  const Tensor q32 = q.to(DType::F32), k32 = k.to(DType::F32), v32 = v.to(DType::F32);
  const AttentionForward f64 = attention_forward(q, k, v), f32 = attention_forward(q32, k32, v32);
  // float32 rounding through two GEMMs of length 16 and a softmax: ~1e-6; 1e-4 leaves margin.
  CHECK(max_abs_diff(f64.out, f32.out) < 1e-4);
  const AttentionGrads d64 = attention_backward(g, f64.probs, q, k, v, f64.scale, true, true, true);
  const AttentionGrads d32 =
      attention_backward(g.to(DType::F32), f32.probs, q32, k32, v32, f32.scale, true, true, true);
  CHECK(max_abs_diff(d64.q, d32.q) < 1e-4);
  CHECK(max_abs_diff(d64.k, d32.k) < 1e-4);
  CHECK(max_abs_diff(d64.v, d32.v) < 1e-4);
}

TEST_CASE("attention kernels reject bad shapes with helpful messages", "[attention]") {
  const Tensor q = randn64({2, 2, 3, 4}, 60), k = randn64({2, 2, 5, 4}, 61), v = randn64({2, 2, 5, 3}, 62);
  CHECK_THROWS_WITH(attention_forward(q, randn64({2, 2, 5, 3}, 63), v),
                    Catch::Contains("scaled_dot_product_attention") && Catch::Contains("same feature size D"));
  CHECK_THROWS_WITH(attention_forward(q, k, randn64({2, 2, 4, 3}, 64)), Catch::Contains("same length Lk"));
  CHECK_THROWS_WITH(attention_forward_naive(q, randn64({2, 3, 5, 4}, 65), v), Catch::Contains("batch and head axes"));
  CHECK_THROWS_WITH(attention_forward(randn64({2, 3, 4}, 66), k, v), Catch::Contains("(B, H, Lq, D)"));
  CHECK_THROWS_WITH(attention_forward(q, k, v, Tensor::ones({2, 4}, DType::F64)),
                    Catch::Contains("key_mask must have shape (B, Lk) = (2, 5), got (2, 4)"));
}
