// SiLU, GELU and Dropout layers. See activation.h.
#include "nn/activation.h"

#include <fmt/format.h>

#include "autograd/ops_dropout.h"
#include "autograd/ops_elementwise.h"

namespace tinydiff {

Variable SiLU::forward(const Variable& x) const { return silu(x); }

Variable GELU::forward(const Variable& x) const {
  return options_.approximate == GeluApproximation::Tanh ? gelu_tanh(x) : gelu_erf(x);
}

Dropout::Dropout(const DropoutOptions& options) : options_(options) {
  TD_CHECK(options.p >= 0.0 && options.p <= 1.0, "Dropout",
           fmt::format("p is the probability of dropping an element and must be in [0, 1], got {}", options.p));
}

Variable Dropout::forward(const Variable& x, Generator& gen) const {
  return dropout(x, options_.p, gen, is_training());
}

}  // namespace tinydiff
