/// \file
/// \brief Operations that move data rather than compute it: pad, concat, split, stack, index_select, gather.
///
/// Usage:
/// \code
///   Tensor img32 = pad(img28, {2, 2, 2, 2}, -1.0);          // (B, 1, 28, 28) -> (B, 1, 32, 32)
///   Tensor h = concat({h, skip}, 1);                        // channels side by side
///   Tensor e = index_select(table, 0, ids.flatten());       // embedding lookup: (V, D) -> (N, D)
/// \endcode
#pragma once

#include <vector>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Constant padding, PyTorch's `F.pad` convention: `pads` holds (before, after) pairs starting
/// from the *last* axis: {left, right} pads axis -1, {left, right, top, bottom} pads -1 and -2.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);
/// The inverse: crops the padded border away (the backward of pad).
Tensor unpad(const Tensor& x, const std::vector<int64_t>& pads);

/// Joins tensors along `axis`; all other extents and the dtype must agree.
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
/// Splits into views of the given extents along `axis` (they must sum to the axis extent).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);
/// Stacks equal-shaped tensors along a new axis.
Tensor stack(const std::vector<Tensor>& xs, int64_t axis);

/// Picks entries along `axis` by an int64 index vector: result.shape[axis] = index.numel().
/// index_select(table (V, D), 0, ids (N)) is an embedding lookup: (N, D).
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
/// Backward of index_select: a zero tensor of `input_shape` with grad rows added at their
/// indices (repeated indices accumulate). Deterministic: no atomics.
Tensor index_select_backward(const Tensor& grad, int64_t axis, const Tensor& index, const Shape& input_shape);

/// torch.gather: out[i][j] = x[i][index[i][j]] along `axis` (index int64, same rank as x).
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
/// Backward of gather: scatter-add of `grad` into zeros of `input_shape`.
Tensor gather_backward(const Tensor& grad, int64_t axis, const Tensor& index, const Shape& input_shape);

/// Float tensor with 1.0 at position index[i] of row i: index (N) int64 -> (N, classes).
Tensor one_hot(const Tensor& index, int64_t classes, DType dtype = DType::F32);

}  // namespace tinydiff
