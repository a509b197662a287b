// Differentiable inverted dropout. See ops_dropout.h.
#include "autograd/ops_dropout.h"

#include <fmt/format.h>

#include "tensor/tensor.h"

namespace tinydiff {

Variable dropout(const Variable& x, double p, Generator& gen, bool training) {
  TD_CHECK(p >= 0.0 && p <= 1.0, "dropout", fmt::format("drop probability must be in [0, 1], got {}", p));
  if (!training || p == 0.0) return x;  // identity: no node, no random numbers drawn
  const Tensor& xv = x.value();         // x: any shape
  check_floating(xv, "dropout");
  // mask: shape of x, m / (1 - p) with m ~ Bernoulli(1 - p); all zeros when p == 1
  Tensor mask = p == 1.0 ? Tensor::zeros(xv.shape(), xv.dtype())
                         : mul(gen.bernoulli(xv.shape(), 1.0 - p, xv.dtype()), 1.0 / (1.0 - p));
  Tensor y = mul(xv, mask);
  // dx = dy * m / (1 - p)
  return make_result("dropout", y, {x}, [mask](const Tensor& g) -> std::vector<Tensor> { return {mul(g, mask)}; });
}

}  // namespace tinydiff
