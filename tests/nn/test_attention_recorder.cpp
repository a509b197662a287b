// MultiHeadAttention::recorder: the recorded attention probabilities equal
// softmax(Q K^T / sqrt(D) + M) computed naively in float64 from the layer's own weights, rows sum
// to 1 (masked keys get exactly 0), and recording changes nothing about the layer's output.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

// Naive reference, float64 loops: P[b, h, i, j] = softmax_j(sum_d Q[b, i, hD + d] K[b, j, hD + d] / sqrt(D))
// over unmasked keys j (mask[b, j] != 0), 0 at masked keys; Q = query W_q^T + b_q, K = key W_k^T + b_k.
// query: (B, Lq, E); key: (B, Lk, kdim); wq: (E, E); wk: (E, kdim); bq, bk: (E); mask: (B, Lk) or undefined.
std::vector<double> naive_weights(const Tensor& query, const Tensor& key, const Tensor& wq, const Tensor& wk,
                                  const Tensor& bq, const Tensor& bk, const Tensor& mask, int64_t heads) {
  const int64_t B = query.size(0), Lq = query.size(1), E = query.size(2), Lk = key.size(1);
  const int64_t D = E / heads;
  const auto project = [](const Tensor& x, const Tensor& w, const Tensor& bias, int64_t b, int64_t i, int64_t e) {
    double s = bias.at({e});
    for (int64_t c = 0; c < x.size(2); ++c) s += x.at({b, i, c}) * w.at({e, c});
    return s;
  };
  std::vector<double> p;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        std::vector<double> s(static_cast<size_t>(Lk), 0.0);
        double top = -INFINITY;
        for (int64_t j = 0; j < Lk; ++j) {
          if (mask.defined() && mask.at({b, j}) == 0.0) continue;
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d)
            dot += project(query, wq, bq, b, i, h * D + d) * project(key, wk, bk, b, j, h * D + d);
          s[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(D));
          top = std::max(top, s[static_cast<size_t>(j)]);
        }
        double z = 0.0;
        std::vector<double> e(static_cast<size_t>(Lk), 0.0);
        for (int64_t j = 0; j < Lk; ++j) {
          if (mask.defined() && mask.at({b, j}) == 0.0) continue;
          e[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - top);
          z += e[static_cast<size_t>(j)];
        }
        for (int64_t j = 0; j < Lk; ++j) p.push_back(z > 0.0 ? e[static_cast<size_t>(j)] / z : 0.0);
      }
  return p;
}

// Every row of P (B, H, Lq, Lk) sums to 1 (float32 rounding: within 1e-5), except rows whose
// keys are all masked, which must be all 0.
void check_rows(const Tensor& p, const Tensor& mask) {
  const std::vector<double> v = p.to_vector();
  const int64_t B = p.size(0), H = p.size(1), Lq = p.size(2), Lk = p.size(3);
  for (int64_t b = 0; b < B; ++b) {
    bool any_key = !mask.defined();
    for (int64_t j = 0; mask.defined() && j < Lk; ++j) any_key = any_key || mask.at({b, j}) != 0.0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        double row = 0.0;
        for (int64_t j = 0; j < Lk; ++j) row += v[static_cast<size_t>(((b * H + h) * Lq + i) * Lk + j)];
        CHECK(row == Approx(any_key ? 1.0 : 0.0).margin(1e-5));
      }
  }
}

}  // namespace

TEST_CASE("MultiHeadAttention recorder: cross-attention weights equal softmax(QK^T/sqrt(D)) with the mask",
          "[nn][attention][recorder]") {
  Generator gen(3);
  MultiHeadAttention cross({.embed_dim = 8, .num_heads = 2, .kdim = 6, .vdim = 6}, gen);
  cross.in_proj_bias.mutable_value().copy_(gen.normal({24}) * 0.5);  // non-zero biases, so they are tested too
  const Tensor q = gen.normal({3, 5, 8}), kv = gen.normal({3, 4, 6});
  // Batch 0: every key; batch 1: keys 2 and 3 padded; batch 2: every key padded (rows of 0).
  const Tensor mask = Tensor::from_vector({1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, {3, 4});

  const Tensor plain = cross.forward(Variable(q), Variable(kv), Variable(kv), mask).value();
  AttentionRecorder rec;
  cross.recorder = &rec;
  const Tensor recorded_out = cross.forward(Variable(q), Variable(kv), Variable(kv), mask).value();
  cross.recorder = nullptr;
  cross.forward(Variable(q), Variable(kv), Variable(kv), mask);  // not recorded any more

  REQUIRE(rec.weights.size() == 1);
  const Tensor& p = rec.weights[0];
  REQUIRE(p.shape() == (Shape{3, 2, 5, 4}));
  CHECK(max_abs_diff(plain, recorded_out) == 0.0);  // recording leaves the output bit for bit unchanged

  const Tensor bias = cross.in_proj_bias.value();
  const std::vector<double> want = naive_weights(q, kv, cross.q_proj_weight.value(), cross.k_proj_weight.value(),
                                                 bias.slice(0, 0, 8), bias.slice(0, 8, 16), mask, 2);
  const std::vector<double> got = p.to_vector();
  REQUIRE(got.size() == want.size());
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  CHECK(worst < 1e-5);  // float32 layer against a float64 reference: probabilities agree to ~1e-6
  // Padded keys get exactly zero probability.
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 5; ++i) {
      CHECK(p.at({1, h, i, 2}) == 0.0);
      CHECK(p.at({1, h, i, 3}) == 0.0);
    }
  check_rows(p, mask);
}

TEST_CASE("MultiHeadAttention recorder: packed self-attention, one entry per call, float64",
          "[nn][attention][recorder]") {
  Generator gen(11);
  MultiHeadAttention self_attn({.embed_dim = 6, .num_heads = 3}, gen);
  self_attn.to(DType::F64);
  self_attn.in_proj_bias.mutable_value().copy_(gen.normal({18}).to(DType::F64) * 0.3);
  const Tensor x1 = gen.normal({2, 7, 6}).to(DType::F64), x2 = gen.normal({1, 3, 6}).to(DType::F64);

  AttentionRecorder rec;
  self_attn.recorder = &rec;
  const Tensor y = self_attn.forward(Variable(x1)).value();  // the packed path (one GEMM for Q, K, V)
  self_attn.forward(Variable(x2));
  self_attn.recorder = nullptr;
  CHECK(max_abs_diff(y, self_attn.forward(Variable(x1)).value()) == 0.0);

  REQUIRE(rec.weights.size() == 2);
  CHECK(rec.weights[0].shape() == (Shape{2, 3, 7, 7}));
  CHECK(rec.weights[1].shape() == (Shape{1, 3, 3, 3}));
  CHECK(rec.weights[0].dtype() == DType::F64);
  const Tensor w = self_attn.in_proj_weight.value(), b = self_attn.in_proj_bias.value();  // (18, 6): [W_q; W_k; W_v]
  for (size_t k = 0; k < 2; ++k) {
    const Tensor& x = k == 0 ? x1 : x2;
    const std::vector<double> want =
        naive_weights(x, x, w.slice(0, 0, 6), w.slice(0, 6, 12), b.slice(0, 0, 6), b.slice(0, 6, 12), Tensor(), 3);
    const std::vector<double> got = rec.weights[k].to_vector();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-12));  // float64 throughout
    check_rows(rec.weights[k], Tensor());
  }
}

TEST_CASE("MultiHeadAttention recorder: a P from the recorder reproduces the layer's output",
          "[nn][attention][recorder]") {
  // out = concat_h(P_h V_h) W_o^T + b_o with V = value W_v^T + b_v: the recorded P is the one the layer used.
  Generator gen(5);
  MultiHeadAttention cross({.embed_dim = 4, .num_heads = 2, .kdim = 3, .vdim = 3}, gen);
  cross.to(DType::F64);
  const Tensor q = gen.normal({1, 3, 4}).to(DType::F64), kv = gen.normal({1, 5, 3}).to(DType::F64);
  const Tensor mask = Tensor::from_vector({1, 1, 0, 1, 0}, {1, 5});
  AttentionRecorder rec;
  cross.recorder = &rec;
  const Tensor out = cross.forward(Variable(q), Variable(kv), Variable(kv), mask).value();
  cross.recorder = nullptr;
  const Tensor& p = rec.weights.at(0);  // (1, 2, 3, 5)
  const Tensor bias = cross.in_proj_bias.value();
  const Tensor v = linear(kv, cross.v_proj_weight.value(), bias.slice(0, 8, 12));  // (1, 5, 4)
  const Tensor o = matmul(p, v.reshape({1, 5, 2, 2}).permute({0, 2, 1, 3}));       // (1, 2, 3, 2)
  const Tensor mine =
      linear(o.permute({0, 2, 1, 3}).reshape({1, 3, 4}), cross.out_proj.weight.value(), cross.out_proj.bias.value());
  CHECK(max_abs_diff(mine, out) < 1e-12);  // float64: agreement to rounding
}
