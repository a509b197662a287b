// MultiHeadAttention, as torch.nn.MultiheadAttention(batch_first=True). See attention.h.
#include "nn/attention.h"

#include <fmt/format.h>

#include "autograd/ops_attention.h"
#include "autograd/ops_linalg.h"
#include "autograd/ops_shape.h"
#include "nn/init.h"

namespace tinydiff {

namespace {
constexpr const char* kOp = "MultiHeadAttention";

/// Validates the options, fills in kdim/vdim (0 -> embed_dim).
MultiHeadAttentionOptions resolve(MultiHeadAttentionOptions o) {
  TD_CHECK(o.embed_dim > 0 && o.num_heads > 0 && o.embed_dim % o.num_heads == 0, kOp,
           fmt::format("embed_dim ({}) must be a positive multiple of num_heads ({})", o.embed_dim, o.num_heads));
  TD_CHECK(o.kdim >= 0 && o.vdim >= 0, kOp,
           fmt::format("kdim and vdim must be positive (or 0 for embed_dim), got {} and {}", o.kdim, o.vdim));
  if (o.kdim == 0) o.kdim = o.embed_dim;
  if (o.vdim == 0) o.vdim = o.embed_dim;
  return o;
}
}  // namespace

MultiHeadAttention::MultiHeadAttention(const MultiHeadAttentionOptions& options, Generator& gen)
    : out_proj({.in_features = resolve(options).embed_dim, .out_features = options.embed_dim, .bias = options.bias},
               gen),
      options_(resolve(options)) {
  const int64_t e = options_.embed_dim;
  packed_ = options_.kdim == e && options_.vdim == e;
  // PyTorch's _reset_parameters: xavier_uniform_ on the input projections, zero biases.
  if (packed_) {
    Tensor w = Tensor::empty({3 * e, e});
    xavier_uniform_(w, gen);  // fans of the whole (3E, E) matrix, as PyTorch
    in_proj_weight = register_parameter("in_proj_weight", w);
  } else {
    Tensor wq = Tensor::empty({e, e}), wk = Tensor::empty({e, options_.kdim}), wv = Tensor::empty({e, options_.vdim});
    xavier_uniform_(wq, gen);
    xavier_uniform_(wk, gen);
    xavier_uniform_(wv, gen);
    q_proj_weight = register_parameter("q_proj_weight", wq);
    k_proj_weight = register_parameter("k_proj_weight", wk);
    v_proj_weight = register_parameter("v_proj_weight", wv);
  }
  if (options_.bias) {
    in_proj_bias = register_parameter("in_proj_bias", Tensor::zeros({3 * e}));
    out_proj.bias.mutable_value().fill_(0.0);
  }
  register_module("out_proj", out_proj);
}

Variable MultiHeadAttention::forward(const Variable& query, const Variable& key, const Variable& value,
                                     const Tensor& key_padding_mask) const {
  const int64_t e = options_.embed_dim;
  TD_CHECK(query.dim() == 3 && key.dim() == 3 && value.dim() == 3 && query.size(2) == e &&
               key.size(2) == options_.kdim && value.size(2) == options_.vdim && key.size(0) == query.size(0) &&
               value.size(0) == query.size(0) && key.size(1) == value.size(1),
           kOp,
           fmt::format("query {}, key {}, value {}: expected (B, Lq, {}), (B, Lk, {}), (B, Lk, {})",
                       shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()), e, options_.kdim,
                       options_.vdim));
  Variable wq = q_proj_weight, wk = k_proj_weight, wv = v_proj_weight;
  if (packed_) {
    // in_proj_weight: (3E, E) = [W_q; W_k; W_v]
    wq = slice(in_proj_weight, 0, 0, e);
    wk = slice(in_proj_weight, 0, e, 2 * e);
    wv = slice(in_proj_weight, 0, 2 * e, 3 * e);
  }
  Variable bq, bk, bv;
  if (options_.bias) {
    // in_proj_bias: (3E) = [b_q; b_k; b_v]
    bq = slice(in_proj_bias, 0, 0, e);
    bk = slice(in_proj_bias, 0, e, 2 * e);
    bv = slice(in_proj_bias, 0, 2 * e, 3 * e);
  }
  // q: (B, Lq, E); k, v: (B, Lk, E)
  return attend(linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv), key_padding_mask);
}

Variable MultiHeadAttention::forward(const Variable& x, const Tensor& key_padding_mask) const {
  if (!packed_) return forward(x, x, x, key_padding_mask);
  const int64_t e = options_.embed_dim;
  TD_CHECK(x.dim() == 3 && x.size(2) == e, kOp,
           fmt::format("input of shape {}: expected (B, L, {})", shape_str(x.shape()), e));
  Variable qkv = linear(x, in_proj_weight, in_proj_bias);   // qkv: (B, L, 3E)
  std::vector<Variable> parts = split(qkv, {e, e, e}, -1);  // 3 x (B, L, E)
  return attend(parts[0], parts[1], parts[2], key_padding_mask);
}

Variable MultiHeadAttention::attend(const Variable& q, const Variable& k, const Variable& v,
                                    const Tensor& key_padding_mask) const {
  const int64_t b = q.size(0), lq = q.size(1), lk = k.size(1);
  const int64_t h = options_.num_heads, d = options_.embed_dim / h;
  Tensor mask;
  if (key_padding_mask.defined()) {
    TD_CHECK(key_padding_mask.shape() == (Shape{b, lk}), kOp,
             fmt::format("key_padding_mask of shape {}: expected (B, Lk) = ({}, {}) with 1 = keep, 0 = ignore",
                         shape_str(key_padding_mask.shape()), b, lk));
    mask = key_padding_mask.to(q.dtype());  // (B, Lk), nonzero = keep
  }
  // (B, L, E) -> (B, L, H, D) -> (B, H, L, D)
  Variable qh = permute(reshape(q, {b, lq, h, d}), {0, 2, 1, 3});
  Variable kh = permute(reshape(k, {b, lk, h, d}), {0, 2, 1, 3});
  Variable vh = permute(reshape(v, {b, lk, h, d}), {0, 2, 1, 3});
  if (recorder != nullptr) {
    // The probabilities P = softmax(Q K^T / sqrt(D) + M), outside the graph: the same fused op
    // with V = I (Lk x Lk identity per batch and head) returns P itself, with the same masking.
    const Tensor eye = one_hot(Tensor::arange(0, static_cast<double>(lk)).to(DType::I64), lk, q.dtype());  // (Lk, Lk)
    const Variable identity(eye.expand({b, h, lk, lk}).contiguous());  // (B, H, Lk, Lk)
    recorder->weights.push_back(
        scaled_dot_product_attention(Variable(qh.value()), Variable(kh.value()), identity, mask).value());
  }
  Variable o = scaled_dot_product_attention(qh, kh, vh, mask);  // o: (B, H, Lq, D), scale 1/sqrt(D)
  o = reshape(permute(o, {0, 2, 1, 3}), {b, lq, h * d});        // o: (B, Lq, H, D) -> (B, Lq, E)
  return out_proj.forward(o);                                   // (B, Lq, E)
}

}  // namespace tinydiff
