// Tests of the shape and indexing ops (autograd/ops_shape.h): gradcheck in float64 for every
// op, including strided inputs, repeated indices (which must accumulate) and compositions.
#include <catch2/catch.hpp>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {
Tensor randn64(const Shape& shape, uint64_t seed) { return Generator(seed).normal(shape, 0.0, 1.0, DType::F64); }
}  // namespace

// The view ops are linear, so gradcheck's finite differences are exact up to rounding; a
// nonlinearity after the view (sin) makes the check also see where each value went.

TEST_CASE("view ops pass gradcheck", "[autograd][shape]") {
  const Tensor x = randn64({2, 3, 4}, 1);
  CHECK_GRADCHECK("reshape", [](const std::vector<Variable>& v) { return sin(reshape(v[0], {4, -1})); }, {x});
  CHECK_GRADCHECK("flatten", [](const std::vector<Variable>& v) { return sin(flatten(v[0], 1)); }, {x});
  CHECK_GRADCHECK("permute", [](const std::vector<Variable>& v) { return sin(permute(v[0], {2, 0, 1})); }, {x});
  CHECK_GRADCHECK("transpose", [](const std::vector<Variable>& v) { return sin(transpose(v[0], 0, -1)); }, {x});
  CHECK_GRADCHECK("slice", [](const std::vector<Variable>& v) { return sin(slice(v[0], 2, 1, 4, 2)); }, {x});
  CHECK_GRADCHECK("slice", [](const std::vector<Variable>& v) { return sin(slice(v[0], 1, -2, 3)); }, {x});
  CHECK_GRADCHECK("unsqueeze", [](const std::vector<Variable>& v) { return sin(unsqueeze(v[0], -1)); }, {x});
  CHECK_GRADCHECK("squeeze", [](const std::vector<Variable>& v) { return sin(squeeze(v[0], 1)); },
                  {randn64({3, 1, 2}, 2)});
  CHECK_GRADCHECK("contiguous", [](const std::vector<Variable>& v) { return sin(contiguous(v[0])); },
                  {x.transpose(0, 2)});
  // expand (3, 1) -> (2, 3, 4): each value feeds 8 outputs
  CHECK_GRADCHECK("expand",
                  [](const std::vector<Variable>& v) {
                    return sin(expand(v[0], {2, 3, 4}));
                  },
                  {randn64({3, 1}, 3)});
}

TEST_CASE("view ops on strided inputs and chains of views", "[autograd][shape]") {
  const Tensor t = randn64({4, 3, 2}, 4).permute({2, 0, 1});  // (2, 4, 3), not contiguous
  REQUIRE_FALSE(t.is_contiguous());
  CHECK_GRADCHECK("reshape", [](const std::vector<Variable>& v) { return sin(reshape(v[0], {8, 3})); }, {t});
  CHECK_GRADCHECK("chain",
                  [](const std::vector<Variable>& v) {
                    Variable y = reshape(permute(v[0], {1, 2, 0}), {4, 6});  // (2, 4, 3) -> (4, 3, 2) -> (4, 6)
                    Variable top = unsqueeze(slice(y, 0, 1, 3), 1);          // rows 1..2: (2, 1, 6)
                    Variable bottom = transpose(slice(y, 0, 2, 4), 0, 1);    // rows 2..3: (6, 2)
                    return square(top) + sin(reshape(bottom, {2, 1, 6}));    // rows overlap: row 2 twice
                  },
                  {t});
}

TEST_CASE("concat and split pass gradcheck", "[autograd][shape]") {
  const Tensor a = randn64({2, 3}, 5), b = randn64({2, 1}, 6), c = randn64({2, 2}, 7);
  CHECK_GRADCHECK("concat",
                  [](const std::vector<Variable>& v) {
                    return sin(concat({v[0], v[1], v[2]}, 1));
                  },
                  {a, b, c});
  CHECK_GRADCHECK("concat", [](const std::vector<Variable>& v) { return sin(concat({v[0], v[0] * 2.0}, 0)); }, {a});
  // split into (1, 3, 2) along the last axis; every piece feeds the output through a different op
  CHECK_GRADCHECK("split",
                  [](const std::vector<Variable>& v) {
                    std::vector<Variable> p = split(v[0], {1, 3, 2}, -1);
                    return concat({sin(p[2]), square(p[0]), p[1] * 3.0}, 1);
                  },
                  {randn64({2, 6}, 8)});
  // Only some pieces used: the unused part's gradient is 0.
  CHECK_GRADCHECK("split",
                  [](const std::vector<Variable>& v) {
                    return exp(split(v[0], {2, 2}, 0)[1]);
                  },
                  {randn64({4, 3}, 9)});
}

TEST_CASE("concat gives no gradient to constant inputs", "[autograd][shape]") {
  Variable a(Tensor::ones({2}, DType::F64), true);
  Variable k(Tensor::full({3}, 2.0, DType::F64));
  Variable y = concat({k, a}, 0);
  CHECK(y.value().to_vector() == std::vector<double>{2, 2, 2, 1, 1});
  sum(y * y).backward();  // d/da sum(y^2) = 2 a = 2
  CHECK(a.grad().to_vector() == std::vector<double>{2.0, 2.0});
  CHECK_FALSE(k.has_grad());
}

TEST_CASE("pad passes gradcheck", "[autograd][shape]") {
  const Tensor x = randn64({1, 2, 3, 3}, 10);
  CHECK_GRADCHECK("pad", [](const std::vector<Variable>& v) { return sin(pad(v[0], {1, 2, 0, 1}, -1.0)); }, {x});
  CHECK_GRADCHECK("pad", [](const std::vector<Variable>& v) { return sin(pad(v[0], {2, 2})); }, {x});
}

TEST_CASE("index_select, gather and embedding pass gradcheck with repeated indices", "[autograd][shape]") {
  const Tensor table = randn64({5, 3}, 11);
  const Tensor ids = Tensor::from_indices({4, 1, 4, 0, 4}, {5});  // 4 appears three times
  CHECK_GRADCHECK("index_select", [ids](const std::vector<Variable>& v) { return sin(index_select(v[0], 0, ids)); },
                  {table});
  CHECK_GRADCHECK("index_select",
                  [](const std::vector<Variable>& v) {
                    return sin(index_select(v[0], 1, Tensor::from_indices({2, 2, 0}, {3})));
                  },
                  {table});
  const Tensor gidx = Tensor::from_indices({0, 0, 2, 1, 1, 1}, {2, 3});
  CHECK_GRADCHECK("gather", [gidx](const std::vector<Variable>& v) { return sin(gather(v[0], 1, gidx)); },
                  {randn64({2, 3}, 12)});
  const Tensor tok = Tensor::from_indices({1, 3, 1, 0, 2, 1}, {2, 3});
  CHECK_GRADCHECK("embedding", [tok](const std::vector<Variable>& v) { return sin(embedding(v[0], tok)); }, {table});
}

TEST_CASE("embedding: shape and accumulation of repeated ids by hand", "[autograd][shape]") {
  Variable w(Tensor::from_vector({0, 1, 10, 11, 20, 21}, {3, 2}, DType::F64), true);
  const Tensor ids = Tensor::from_indices({2, 0, 2, 2}, {2, 2});
  Variable e = embedding(w, ids);  // (2, 2) ids -> (2, 2, 2)
  CHECK(e.shape() == Shape{2, 2, 2});
  CHECK(e.value().to_vector() == std::vector<double>{20, 21, 0, 1, 20, 21, 20, 21});
  sum(e).backward();
  // row 2 read three times, row 0 once, row 1 never
  CHECK(w.grad().to_vector() == std::vector<double>{1, 1, 0, 0, 3, 3});
  CHECK_THROWS_WITH(embedding(w, Tensor::ones({2}, DType::F64)), Catch::Contains("int64"));
  CHECK_THROWS_WITH(embedding(Variable(Tensor::ones({6}, DType::F64)), ids), Catch::Contains("(num_embeddings, dim)"));
}

TEST_CASE("shape ops reject bad arguments through the tensor library", "[autograd][shape]") {
  Variable x(Tensor::ones({2, 3}, DType::F64), true);
  CHECK_THROWS_WITH(reshape(x, {4, 2}), Catch::Contains("reshape"));
  CHECK_THROWS_WITH(squeeze(x, 0), Catch::Contains("squeeze"));
  CHECK_THROWS_WITH(concat({x, Variable(Tensor::ones({2, 3}))}, 0), Catch::Contains("concat"));
  CHECK_THROWS_WITH(split(x, {1, 1}, 1), Catch::Contains("split"));
}
