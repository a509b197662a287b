// Linear layer. See linear.h.
#include "nn/linear.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops_linalg.h"
#include "nn/init.h"

namespace tinydiff {

Linear::Linear(const LinearOptions& options, Generator& gen) : options_(options) {
  TD_CHECK(options.in_features > 0 && options.out_features > 0, "Linear",
           fmt::format("in_features and out_features must be positive, got {} and {}", options.in_features,
                       options.out_features));
  Tensor w = Tensor::empty({options.out_features, options.in_features});
  kaiming_uniform_(w, gen, std::sqrt(5.0));  // = U(-1/sqrt(in), 1/sqrt(in))
  weight = register_parameter("weight", w);
  if (options.bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features));
    Tensor b = Tensor::empty({options.out_features});
    uniform_(b, gen, -bound, bound);
    bias = register_parameter("bias", b);
  }
}

Variable Linear::forward(const Variable& x) const {
  TD_CHECK(x.dim() >= 1 && x.size(-1) == options_.in_features, "Linear",
           fmt::format("input of shape {}: expected the last axis to be in_features = {}", shape_str(x.shape()),
                       options_.in_features));
  // x: (..., in) -> (..., out)
  return linear(x, weight, bias);
}

}  // namespace tinydiff
