// Differentiable shape and indexing ops, forward and backward side by side. See ops_shape.h.
//
// Notation: x is the input, y the output, g = dL/dy (y's shape); every backward returns a
// tensor of x's shape.
#include "autograd/ops_shape.h"

#include <fmt/format.h>

#include "tensor/tensor.h"

namespace tinydiff {

namespace {

/// The adjoint of a slice: zeros of `shape` with `g` written at the sliced positions.
Tensor unslice(const Tensor& g, const Shape& shape, int64_t axis, int64_t start, int64_t end, int64_t step) {
  Tensor gx = Tensor::zeros(shape, g.dtype());
  gx.slice(axis, start, end, step).copy_(g);
  return gx;
}

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
  // y = x in another shape: x_bar = g reshaped back
  return make_result("reshape", x.value().reshape(shape), {x},
                     [s = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(s)}; });
}

Variable flatten(const Variable& x, int64_t start_axis, int64_t end_axis) {
  // y = x with axes start..end merged: x_bar = g reshaped back
  return make_result("flatten", x.value().flatten(start_axis, end_axis), {x},
                     [s = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(s)}; });
}

Variable permute(const Variable& x, const std::vector<int64_t>& order) {
  Tensor y = x.value().permute(order);  // validates order
  // y axis k = x axis order[k]: x_bar = g permuted by the inverse, inverse[order[k]] = k
  std::vector<int64_t> inverse(order.size());
  for (size_t k = 0; k < order.size(); ++k)
    inverse[static_cast<size_t>(x.value().normalize_axis(order[k], "permute"))] = static_cast<int64_t>(k);
  return make_result("permute", std::move(y), {x},
                     [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
}

Variable transpose(const Variable& x, int64_t axis0, int64_t axis1) {
  // a swap is its own inverse: x_bar = g with the same two axes swapped
  return make_result("transpose", x.value().transpose(axis0, axis1), {x},
                     [axis0, axis1](const Tensor& g) { return std::vector<Tensor>{g.transpose(axis0, axis1)}; });
}

Variable slice(const Variable& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  // y = x[..., start:end:step, ...]: x_bar = g at the sliced positions, 0 elsewhere
  return make_result("slice", x.value().slice(axis, start, end, step), {x},
                     [s = x.shape(), axis, start, end, step](const Tensor& g) {
                       return std::vector<Tensor>{unslice(g, s, axis, start, end, step)};
                     });
}

Variable expand(const Variable& x, const Shape& shape) {
  // each x element is copied to many y elements: x_bar = sum_to(g, shape(x))
  return make_result("expand", x.value().expand(shape), {x},
                     [s = x.shape()](const Tensor& g) { return std::vector<Tensor>{sum_to(g, s)}; });
}

Variable unsqueeze(const Variable& x, int64_t axis) {
  // x_bar = g without the inserted axis
  return make_result("unsqueeze", x.value().unsqueeze(axis), {x},
                     [s = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(s)}; });
}

Variable squeeze(const Variable& x, int64_t axis) {
  // x_bar = g with the removed axis put back
  return make_result("squeeze", x.value().squeeze(axis), {x},
                     [s = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(s)}; });
}

Variable contiguous(const Variable& x) {
  // same values, new layout: x_bar = g
  return make_result("contiguous", x.value().contiguous(), {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Variable concat(const std::vector<Variable>& xs, int64_t axis) {
  std::vector<Tensor> values;
  values.reserve(xs.size());
  for (const auto& v : xs) values.push_back(v.value());
  Tensor y = concat(values, axis);  // validates shapes, dtypes and the axis
  const int64_t a = y.normalize_axis(axis, "concat");
  // y = [x_0, x_1, ...] along a: x_bar_i = g[..., offset_i : offset_i + n_i, ...]
  std::vector<int64_t> extents;
  std::vector<bool> need;
  for (const auto& v : xs) {
    extents.push_back(v.size(a));
    need.push_back(v.requires_grad());
  }
  return make_result("concat", std::move(y), xs, [a, extents, need](const Tensor& g) {
    std::vector<Tensor> grads(extents.size());
    int64_t offset = 0;
    for (size_t i = 0; i < extents.size(); ++i) {
      if (need[i]) grads[i] = g.slice(a, offset, offset + extents[i]);
      offset += extents[i];
    }
    return grads;
  });
}

std::vector<Variable> split(const Variable& x, const std::vector<int64_t>& sizes, int64_t axis) {
  std::vector<Tensor> pieces = split(x.value(), sizes, axis);  // validates sizes and axis
  const int64_t a = x.value().normalize_axis(axis, "split");
  std::vector<Variable> out;
  out.reserve(pieces.size());
  int64_t offset = 0;
  for (size_t k = 0; k < pieces.size(); ++k) {
    const int64_t begin = offset, end = offset + sizes[k];
    // piece k = x[..., begin:end, ...]: x_bar = g at those positions, 0 elsewhere
    out.push_back(make_result("split", std::move(pieces[k]), {x}, [s = x.shape(), a, begin, end](const Tensor& g) {
      return std::vector<Tensor>{unslice(g, s, a, begin, end, 1)};
    }));
    offset = end;
  }
  return out;
}

Variable pad(const Variable& x, const std::vector<int64_t>& pads, double value) {
  // the border is constant: x_bar = g with the border cropped away
  return make_result("pad", pad(x.value(), pads, value), {x},
                     [pads](const Tensor& g) { return std::vector<Tensor>{unpad(g, pads)}; });
}

Variable index_select(const Variable& x, int64_t axis, const Tensor& index) {
  // y[..., n, ...] = x[..., index[n], ...]:  x_bar[..., v, ...] = sum over n with index[n] = v of g[..., n, ...]
  return make_result("index_select", index_select(x.value(), axis, index), {x},
                     [axis, index, s = x.shape()](const Tensor& g) {
                       return std::vector<Tensor>{index_select_backward(g, axis, index, s)};
                     });
}

Variable gather(const Variable& x, int64_t axis, const Tensor& index) {
  // y[i][j] = x[i][index[i][j]] (axis 1):  x_bar = scatter-add of g at the gathered positions
  return make_result("gather", gather(x.value(), axis, index), {x}, [axis, index, s = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{gather_backward(g, axis, index, s)};
  });
}

Variable embedding(const Variable& weight, const Tensor& ids) {
  check_defined(ids, "embedding");
  TD_CHECK(weight.dim() == 2, "embedding",
           fmt::format("weight has shape {}; expected a (num_embeddings, dim) table", shape_str(weight.shape())));
  TD_CHECK(ids.dtype() == DType::I64, "embedding",
           fmt::format("ids {} are {}; expected int64 token ids", shape_str(ids.shape()), dtype_name(ids.dtype())));
  // ids: (S...) -> flat (N), rows: (N, D) -> (S..., D)
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  return reshape(index_select(weight, 0, ids.reshape({-1})), out_shape);
}

}  // namespace tinydiff
