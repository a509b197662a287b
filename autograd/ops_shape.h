/// \file
/// \brief Differentiable shape ops on Variables: views (reshape, permute, slice, expand, ...),
/// concat, split, pad and the indexing ops index_select, gather and embedding.
///
/// Views move no data, so their backward only moves the adjoint back into the input's
/// layout: reshape's backward reshapes back, permute's applies the inverse permutation,
/// slice's writes the adjoint into a zero tensor at the sliced positions, and expand's sums
/// over the broadcast axes (\f$\bar x = \mathrm{sum\_to}(\bar y, \mathrm{shape}(x))\f$).
/// Indexing ops scatter-add the adjoint back to the rows they read, so a row read twice (a
/// repeated token id) receives the sum of both adjoints:
/// \f$\bar W_v = \sum_{n:\ \mathrm{ids}_n = v} \bar y_n\f$ for an embedding lookup.
///
/// Index tensors (`index`, `ids`) are int64 constants: they get no gradient.
///
/// `split` returns one Variable per piece, each recorded as its own op (the engine's nodes
/// have one output), so each piece's backward writes into a zero tensor of the input's shape;
/// fine for the few pieces of a qkv or chunk split.
///
/// Usage:
/// \code
///   // x: (B, C, H, W) -> tokens (B, H*W, C)
///   Variable tokens = transpose(flatten(x, 2), 1, 2);
///   // ids: (B, L) int64, table: (V, D) -> (B, L, D)
///   Variable e = embedding(table, ids);
/// \endcode
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace tinydiff {

/// Same values in a new shape (one extent may be -1); \f$\bar x = \bar y\f$ reshaped back.
Variable reshape(const Variable& x, const Shape& shape);
/// Collapses axes start..end (inclusive) into one.
Variable flatten(const Variable& x, int64_t start_axis = 0, int64_t end_axis = -1);
/// Reorders axes: result axis k is input axis `order[k]`; the backward applies the inverse order.
Variable permute(const Variable& x, const std::vector<int64_t>& order);
/// Swaps two axes.
Variable transpose(const Variable& x, int64_t axis0, int64_t axis1);
/// Elements start, start+step, ... < end along `axis`; the adjoint of the rest is 0.
Variable slice(const Variable& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
/// Broadcasts size-1 (and new leading) axes to `shape`; \f$\bar x = \mathrm{sum\_to}(\bar y)\f$.
Variable expand(const Variable& x, const Shape& shape);
/// Inserts a size-1 axis at `axis`.
Variable unsqueeze(const Variable& x, int64_t axis);
/// Removes `axis`, which must have extent 1.
Variable squeeze(const Variable& x, int64_t axis);
/// A contiguous copy (x itself when already contiguous); the gradient passes through.
Variable contiguous(const Variable& x);
/// Joins Variables along `axis`; each input's adjoint is its slice of \f$\bar y\f$.
Variable concat(const std::vector<Variable>& xs, int64_t axis);
/// Splits into pieces of the given extents along `axis` (they must sum to the axis extent).
std::vector<Variable> split(const Variable& x, const std::vector<int64_t>& sizes, int64_t axis);
/// Constant padding, PyTorch's F.pad convention ({left, right, top, bottom, ...} from the last
/// axis); the backward crops the border away (unpad).
Variable pad(const Variable& x, const std::vector<int64_t>& pads, double value = 0.0);
/// Entries along `axis` picked by an int64 index vector; the backward scatter-adds
/// (index_select_backward), so repeated indices accumulate.
Variable index_select(const Variable& x, int64_t axis, const Tensor& index);
/// torch.gather along `axis` (index int64, same rank as x); the backward scatter-adds (gather_backward).
Variable gather(const Variable& x, int64_t axis, const Tensor& index);
/// Embedding lookup: weight (V, D), ids int64 of any shape S -> (S..., D), e.g. (B, L) -> (B, L, D).
Variable embedding(const Variable& weight, const Tensor& ids);

}  // namespace tinydiff
