// Differentiable matmul and linear. See ops_linalg.h.
#include "autograd/ops_linalg.h"

#include <fmt/format.h>

#include "tensor/tensor.h"

namespace tinydiff {

namespace {

// torch.matmul's 1-d promotion: a vector on the left becomes a row (1, K), on the right a column (K, 1).
Shape promote_left(const Shape& s) { return s.size() == 1 ? Shape{1, s[0]} : s; }
Shape promote_right(const Shape& s) { return s.size() == 1 ? Shape{s[0], 1} : s; }

Shape batch_of(const Shape& s) { return Shape(s.begin(), s.end() - 2); }

}  // namespace

Variable matmul(const Variable& a, const Variable& b) {
  const Tensor& av = a.value();  // a: (..., M, K) or (K)
  const Tensor& bv = b.value();  // b: (..., K, N) or (K)
  TD_CHECK(av.dim() >= 1 && bv.dim() >= 1, "matmul",
           fmt::format("expected operands with at least one axis, got {} @ {}", shape_str(av.shape()),
                       shape_str(bv.shape())));
  TD_CHECK(av.dtype() == bv.dtype(), "matmul",
           fmt::format("dtypes differ: {} {} @ {} {}", shape_str(av.shape()), dtype_name(av.dtype()),
                       shape_str(bv.shape()), dtype_name(bv.dtype())));
  Tensor y = matmul(av, bv);  // y: (batch..., M, N) without the promoted axes

  // dA needs B and dB needs A: keep each only when the other side wants a gradient.
  const Tensor a_saved = b.requires_grad() ? av : Tensor();
  const Tensor b_saved = a.requires_grad() ? bv : Tensor();
  const Shape a_shape = av.shape(), b_shape = bv.shape();
  // dA = dY B^T (summed over broadcast batch axes), dB = A^T dY (likewise).
  return make_result("matmul", y, {a, b}, [a_saved, b_saved, a_shape, b_shape](const Tensor& g) {
    const Shape a2 = promote_left(a_shape);   // (..., M, K)
    const Shape b2 = promote_right(b_shape);  // (..., K, N)
    Shape g2_shape = broadcast_shapes(batch_of(a2), batch_of(b2), "matmul");
    g2_shape.push_back(a2[a2.size() - 2]);
    g2_shape.push_back(b2.back());
    const Tensor g2 = g.reshape(g2_shape);  // g2: (batch..., M, N)
    std::vector<Tensor> grads(2);
    if (b_saved.defined()) {  // dA = dY B^T
      const Tensor bm = b_saved.reshape(b2);
      grads[0] = sum_to(matmul(g2, bm.transpose(-2, -1)), a2).reshape(a_shape);
    }
    if (a_saved.defined()) {  // dB = A^T dY
      const Tensor am = a_saved.reshape(a2);
      if (b2.size() == 2) {
        // B has no batch axes: flatten every row of A and dY into one GEMM, (K, R) @ (R, N).
        const int64_t k = a2.back(), n = b2.back();
        grads[1] = matmul(am.reshape({-1, k}).transpose(0, 1), g2.reshape({-1, n})).reshape(b_shape);
      } else {
        grads[1] = sum_to(matmul(am.transpose(-2, -1), g2), b2).reshape(b_shape);
      }
    }
    return grads;
  });
}

Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
  const Tensor& xv = x.value();       // x: (..., in)
  const Tensor& wv = weight.value();  // W: (out, in)
  TD_CHECK(wv.dim() == 2, "linear", fmt::format("expected weight of shape (out, in), got {}", shape_str(wv.shape())));
  const int64_t out = wv.size(0), in = wv.size(1);
  TD_CHECK(xv.dim() >= 1 && xv.size(-1) == in, "linear",
           fmt::format("input {} does not match weight {}; expected x.shape[-1] == {}", shape_str(xv.shape()),
                       shape_str(wv.shape()), in));
  TD_CHECK(xv.dtype() == wv.dtype(), "linear",
           fmt::format("dtypes differ: input {}, weight {}", dtype_name(xv.dtype()), dtype_name(wv.dtype())));
  Tensor bv;
  if (bias.defined()) {
    bv = bias.value();  // b: (out)
    TD_CHECK(bv.shape() == Shape{out} && bv.dtype() == wv.dtype(), "linear",
             fmt::format("expected bias of shape {} {}, got {} {}", shape_str({out}), dtype_name(wv.dtype()),
                         shape_str(bv.shape()), dtype_name(bv.dtype())));
  }
  Tensor y = linear(xv, wv, bv);  // y: (..., out)

  const Tensor x_saved = weight.requires_grad() ? xv : Tensor();  // for dW
  const Tensor w_saved = x.requires_grad() ? wv : Tensor();       // for dx
  const bool need_b = bias.defined() && bias.requires_grad();
  // dx = dy W;  dW = dy^T x summed over every leading axis;  db = sum_n dy_n.
  return make_result("linear", y, {x, weight, bias}, [x_saved, w_saved, need_b](const Tensor& g) {
    // All three in one parallel region (tensor/linalg.h)
    LinearGrads d = linear_backward(g, x_saved, w_saved, w_saved.defined(), x_saved.defined(), need_b);
    return std::vector<Tensor>{d.input, d.weight, d.bias};  // (..., in), (out, in), (out)
  });
}

}  // namespace tinydiff
