// Conv2d layer. See conv.h.
#include "nn/conv.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops_conv.h"
#include "nn/init.h"

namespace tinydiff {

Conv2d::Conv2d(const Conv2dOptions& options, Generator& gen) : options_(options) {
  TD_CHECK(
      options.in_channels > 0 && options.out_channels > 0 && options.kernel_size > 0 && options.stride > 0 &&
          options.padding >= 0,
      "Conv2d",
      fmt::format("expected positive in_channels, out_channels, kernel_size, stride and padding >= 0, got "
                  "{}, {}, {}, {}, {}",
                  options.in_channels, options.out_channels, options.kernel_size, options.stride, options.padding));
  const int64_t k = options.kernel_size;
  Tensor w = Tensor::empty({options.out_channels, options.in_channels, k, k});
  kaiming_uniform_(w, gen, std::sqrt(5.0));  // = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = Cin k^2
  weight = register_parameter("weight", w);
  if (options.bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_channels * k * k));
    Tensor b = Tensor::empty({options.out_channels});
    uniform_(b, gen, -bound, bound);
    bias = register_parameter("bias", b);
  }
}

Variable Conv2d::forward(const Variable& x) const {
  TD_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels, "Conv2d",
           fmt::format("input of shape {}: expected (B, {}, H, W)", shape_str(x.shape()), options_.in_channels));
  // x: (B, Cin, H, W) -> (B, Cout, Hout, Wout)
  return conv2d(x, weight, bias, options_.stride, options_.padding);
}

}  // namespace tinydiff
