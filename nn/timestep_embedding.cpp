// Sinusoidal timestep embedding. See timestep_embedding.h.
#include "nn/timestep_embedding.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/tensor.h"

namespace tinydiff {

Tensor timestep_embedding(const Tensor& t, int64_t dim, DType dtype, double max_period) {
  constexpr const char* op = "timestep_embedding";
  check_defined(t, op);
  TD_CHECK(t.dim() == 1, op, fmt::format("timesteps of shape {}: expected a vector (B)", shape_str(t.shape())));
  TD_CHECK(dim > 0 && dim % 2 == 0, op, fmt::format("dim must be even and positive, got {}", dim));
  TD_CHECK(dtype != DType::I64, op, "the embedding dtype must be float32 or float64");
  TD_CHECK(max_period > 0, op, fmt::format("max_period must be positive, got {}", max_period));
  const int64_t half = dim / 2;
  const int64_t b = t.size(0);
  // Same operations, order and dtype as the PyTorch reference in the header.
  Tensor freqs = exp(Tensor::arange(0, static_cast<double>(half), 1.0, dtype) * -std::log(max_period) /
                     static_cast<double>(half));                          // freqs: (h)
  Tensor a = mul(t.to(dtype).reshape({b, 1}), freqs.reshape({1, half}));  // a: (B, h)
  return concat({sin(a), cos(a)}, 1);                                     // (B, 2h)
}

}  // namespace tinydiff
