/// \file
/// \brief Printing tensors with fmt: `fmt::format("{}", t)` shows shape, dtype and values.
///
/// Large tensors are elided PyTorch-style: at most 3 entries at each end of every axis.
///
///     tensor([[1.0000, 2.0000, 3.0000],
///             [4.0000, 5.0000, 6.0000]], shape=(2, 3), dtype=float32)
#pragma once

#include <fmt/format.h>

#include <string>

#include "tensor/tensor_core.h"

namespace tinydiff {
/// The text fmt prints for a tensor.
std::string to_string(const Tensor& t);
}  // namespace tinydiff

template <>
struct fmt::formatter<tinydiff::Tensor> : fmt::formatter<std::string> {
  template <typename Ctx>
  auto format(const tinydiff::Tensor& t, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(tinydiff::to_string(t), ctx);
  }
};

template <>
struct fmt::formatter<tinydiff::DType> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(tinydiff::DType d, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(tinydiff::dtype_name(d), ctx);
  }
};
