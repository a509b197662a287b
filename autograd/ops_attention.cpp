// Differentiable scaled dot-product attention. See ops_attention.h.
#include "autograd/ops_attention.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_linalg.h"
#include "autograd/ops_shape.h"
#include "autograd/ops_softmax.h"
#include "tensor/tensor.h"
#include "tensor/vec_math.h"

namespace tinydiff {

namespace {

// Geometry of the score matrix S: (B, H, Lq, Lk), rows = B * H * Lq, each of Lk keys.
struct ScoreGeometry {
  int64_t batch = 1, heads = 1, lq = 1, lk = 1;
  int64_t rows() const { return batch * heads * lq; }
  int64_t batch_of_row(int64_t row) const { return row / (heads * lq); }
};

// Forward, in place on p: p <- softmax over keys of (scale * s) with masked keys removed.
// p: (rows, Lk) holding the raw scores q k^T; mask: (B, Lk) (1 = keep, 0 = mask) or nullptr.
// A row whose keys are all masked becomes all zeros.
template <typename T>
void masked_softmax_forward(T* p, const T* mask, ScoreGeometry geo, double scale) {
  const int64_t lk = geo.lk;
  parallel_for(geo.rows(), 6 * lk, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      T* pr = p + row * lk;
      const T* mr = mask ? mask + geo.batch_of_row(row) * lk : nullptr;
      const T st = static_cast<T>(scale);
      if (!mr) {
        // No mask: lane-wise max, exp (vexp, vectorised for float) with 8 partial sums in double.
        T mx[8];
        for (int k = 0; k < 8; ++k) mx[k] = -std::numeric_limits<T>::infinity();
        int64_t j = 0;
        for (; j + 8 <= lk; j += 8)
          for (int k = 0; k < 8; ++k) mx[k] = std::max(mx[k], st * pr[j + k]);
        for (; j < lk; ++j) mx[0] = std::max(mx[0], st * pr[j]);
        T m = mx[0];
        for (int k = 1; k < 8; ++k) m = std::max(m, mx[k]);
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (j = 0; j + 8 <= lk; j += 8)
          for (int k = 0; k < 8; ++k) {
            const T e = vexp(st * pr[j + k] - m);
            pr[j + k] = e;
            acc[k] += e;
          }
        for (; j < lk; ++j) {
          const T e = vexp(st * pr[j] - m);
          pr[j] = e;
          acc[0] += e;
        }
        const double sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        const T inv = static_cast<T>(1.0 / sum);
        for (j = 0; j < lk; ++j) pr[j] *= inv;
        continue;
      }
      T m = -std::numeric_limits<T>::infinity();
      bool any = false;
      for (int64_t j = 0; j < lk; ++j) {
        if (mr[j] == T(0)) continue;
        any = true;
        m = std::max(m, st * pr[j]);
      }
      if (!any) {  // every key masked: probability row of zeros, output 0, no gradient
        for (int64_t j = 0; j < lk; ++j) pr[j] = T(0);
        continue;
      }
      double sum = 0;  // exp in T (vexp for float32), the sum accumulated in double
      for (int64_t j = 0; j < lk; ++j) {
        const T e = mr[j] == T(0) ? T(0) : vexp(st * pr[j] - m);
        pr[j] = e;
        sum += e;
      }
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t j = 0; j < lk; ++j) pr[j] *= inv;
    }
  });
}

// Backward through the masked, scaled softmax, in place on dp:
//   dS = scale * P * (dP - sum_j dP_j P_j)      (masked keys have P = 0, hence dS = 0)
// p, dp: (rows, Lk).
template <typename T>
void masked_softmax_backward(const T* p, T* dp, ScoreGeometry geo, double scale) {
  const int64_t lk = geo.lk;
  parallel_for(geo.rows(), 4 * lk, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const T* pr = p + row * lk;
      T* dr = dp + row * lk;
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // 8 partial sums: vectorised, fixed order
      int64_t j = 0;
      for (; j + 8 <= lk; j += 8)
        for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(dr[j + k]) * pr[j + k];
      for (; j < lk; ++j) acc[0] += static_cast<double>(dr[j]) * pr[j];
      const double dot = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (j = 0; j < lk; ++j) dr[j] = static_cast<T>(scale * pr[j] * (dr[j] - dot));
    }
  });
}

}  // namespace

Variable scaled_dot_product_attention(const Variable& q, const Variable& k, const Variable& v, const Tensor& key_mask,
                                      std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  const Tensor& qv = q.value();  // q: (B, H, Lq, D)
  const Tensor& kv = k.value();  // k: (B, H, Lk, D)
  const Tensor& vv = v.value();  // v: (B, H, Lk, Dv)
  const auto shapes = [&] {
    return fmt::format("q {}, k {}, v {}", shape_str(qv.shape()), shape_str(kv.shape()), shape_str(vv.shape()));
  };
  TD_CHECK(qv.dim() == 4 && kv.dim() == 4 && vv.dim() == 4, op,
           fmt::format("expected q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv); got {}", shapes()));
  TD_CHECK(kv.size(0) == qv.size(0) && vv.size(0) == qv.size(0) && kv.size(1) == qv.size(1) && vv.size(1) == qv.size(1),
           op, fmt::format("batch and head axes must agree: {}", shapes()));
  TD_CHECK(kv.size(3) == qv.size(3), op, fmt::format("q and k must have the same feature size D: {}", shapes()));
  TD_CHECK(vv.size(2) == kv.size(2), op, fmt::format("k and v must have the same length Lk: {}", shapes()));
  TD_CHECK(kv.dtype() == qv.dtype() && vv.dtype() == qv.dtype(), op,
           fmt::format("dtypes differ: q {}, k {}, v {}", dtype_name(qv.dtype()), dtype_name(kv.dtype()),
                       dtype_name(vv.dtype())));
  check_floating(qv, op);
  ScoreGeometry geo;
  geo.batch = qv.size(0);
  geo.heads = qv.size(1);
  geo.lq = qv.size(2);
  geo.lk = kv.size(2);
  Tensor mask;
  if (key_mask.defined()) {
    check_floating(key_mask, op);
    TD_CHECK(key_mask.shape() == (Shape{geo.batch, geo.lk}), op,
             fmt::format("key_mask must have shape (B, Lk) = ({}, {}), got {}", geo.batch, geo.lk,
                         shape_str(key_mask.shape())));
    mask = key_mask.to(qv.dtype()).contiguous();  // mask: (B, Lk)
  }
  const double s = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(qv.size(3)));

  Tensor p = matmul(qv, kv.transpose(-2, -1)).contiguous();  // p: (B, H, Lq, Lk), raw scores q k^T
  dispatch_floating(qv.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    masked_softmax_forward<T>(p.data<T>(), mask.defined() ? mask.data<T>() : nullptr, geo, s);
  });                          // p: probabilities P
  Tensor out = matmul(p, vv);  // out: (B, H, Lq, Dv)

  const bool need_q = q.requires_grad(), need_k = k.requires_grad(), need_v = v.requires_grad();
  const Tensor q_saved = need_k ? qv : Tensor();              // dK = s dS^T Q
  const Tensor k_saved = need_q ? kv : Tensor();              // dQ = s dS K
  const Tensor v_saved = (need_q || need_k) ? vv : Tensor();  // dP = dO V^T
  // dV = P^T dO;  dP = dO V^T;  dS = s P (dP - rowsum(dP P));  dQ = dS K;  dK = dS^T Q
  return make_result(op, out, {q, k, v},
                     [p, q_saved, k_saved, v_saved, need_v, geo, s, op](const Tensor& g) -> std::vector<Tensor> {
                       std::vector<Tensor> grads(3);
                       if (need_v) grads[2] = matmul(p.transpose(-2, -1), g);  // (B, H, Lk, Dv)
                       if (!v_saved.defined()) return grads;
                       Tensor ds = matmul(g, v_saved.transpose(-2, -1)).contiguous();  // dP: (B, H, Lq, Lk)
                       dispatch_floating(p.dtype(), op, [&](auto tag) {
                         using T = decltype(tag);
                         masked_softmax_backward<T>(p.data<T>(), ds.data<T>(), geo, s);
                       });                                                     // ds: dS, scale included
                       if (k_saved.defined()) grads[0] = matmul(ds, k_saved);  // (B, H, Lq, D)
                       if (q_saved.defined()) grads[1] = matmul(ds.transpose(-2, -1), q_saved);  // (B, H, Lk, D)
                       return grads;
                     });
}

Variable scaled_dot_product_attention_naive(const Variable& q, const Variable& k, const Variable& v,
                                            const Tensor& key_mask, std::optional<double> scale) {
  const double s = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  Variable scores = mul(matmul(q, transpose(k, -2, -1)), s);  // (B, H, Lq, Lk)
  if (!key_mask.defined()) return matmul(softmax_naive(scores, -1), v);
  const int64_t b = key_mask.size(0), lk = key_mask.size(1);
  const Tensor keep = key_mask.to(q.dtype());                                   // (B, Lk), 1 keep / 0 mask
  const Tensor additive = mul(sub(keep, 1.0), 1e9).reshape({b, 1, 1, lk});      // 0 keep, -1e9 mask
  const Tensor any_kept = gt(max(keep, {1}, true), 0.0).reshape({b, 1, 1, 1});  // 0 where all masked
  Variable p = softmax_naive(add(scores, Variable(additive)), -1);              // (B, H, Lq, Lk)
  return matmul(mul(p, Variable(any_kept)), v);                                 // (B, H, Lq, Dv)
}

}  // namespace tinydiff
