// Differentiable conv2d and upsample_nearest2d on the tensor library's kernels. See ops_conv.h.
#include "autograd/ops_conv.h"

#include <fmt/format.h>

#include "tensor/tensor.h"

namespace tinydiff {

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding) {
  const Tensor& xv = x.value();                                // x: (B, Cin, H, W)
  const Tensor& wv = weight.value();                           // w: (Cout, Cin, kh, kw)
  const Tensor bv = bias.defined() ? bias.value() : Tensor();  // b: (Cout) or undefined
  // The tensor kernel checks ranks, channel counts, dtypes, stride and padding.
  Tensor y = conv2d(xv, wv, bv, stride, padding);  // y: (B, Cout, Hout, Wout)

  const Tensor x_saved = weight.requires_grad() ? xv : Tensor();  // dw needs x
  const Tensor w_saved = x.requires_grad() ? wv : Tensor();       // dx needs w
  const Shape x_shape = xv.shape(), w_shape = wv.shape();
  const bool need_b = bias.defined() && bias.requires_grad();
  // dx = col2im(w^T dy);  dw = dy cols(x)^T;  db_o = sum_{b,i,j} dy_{b,o,i,j}
  return make_result(
      "conv2d", y, {x, weight, bias}, [x_saved, w_saved, x_shape, w_shape, need_b, stride, padding](const Tensor& g) {
        // All three in one pass over the images (tensor/conv.h)
        Conv2dGrads d = conv2d_backward(g, x_saved, w_saved, x_shape, w_shape, stride, padding, w_saved.defined(),
                                        x_saved.defined(), need_b);
        return std::vector<Tensor>{d.input, d.weight, d.bias};  // (B, Cin, H, W), (Cout, Cin, kh, kw), (Cout)
      });
}

Variable upsample_nearest2d(const Variable& x, int64_t scale) {
  Tensor y = upsample_nearest2d(x.value(), scale);  // x: (B, C, H, W) -> y: (B, C, sH, sW)
  // dx_{b,c,i,j} = sum of dy over the s x s block that pixel (i, j) was copied to
  return make_result("upsample_nearest2d", y, {x}, [scale](const Tensor& g) -> std::vector<Tensor> {
    return {upsample_nearest2d_backward(g, scale)};
  });
}

}  // namespace tinydiff
