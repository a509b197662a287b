// Tests of pad/unpad, concat/split/stack, index_select (+ backward), gather (+ backward) and
// one_hot: hand-computed values, round trips, non-contiguous inputs, comparisons with direct
// loops over at(), and the error messages for bad indices and shapes.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "tensor/tensor.h"
#include "test_util.h"

using namespace tinydiff;
using namespace tinydiff::test;

namespace {

Tensor randint(int64_t hi, const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, hi - 1);
  std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
  for (int64_t& x : v) x = dist(rng);
  return Tensor::from_indices(v, shape);
}

}  // namespace

TEST_CASE("pad follows the F.pad convention and unpad inverts it", "[shape_ops]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  // {left 1, right 0} on the last axis, {top 0, bottom 1} on the one before.
  Tensor p = pad(x, {1, 0, 0, 1}, -1.0);
  CHECK(p.shape() == Shape{1, 1, 3, 3});
  CHECK(p.to_vector() == std::vector<double>{-1, 1, 2, -1, 3, 4, -1, -1, -1});
  Tensor u = unpad(p, {1, 0, 0, 1});
  CHECK(u.shape() == x.shape());
  CHECK(u.to_vector() == x.to_vector());
  CHECK(u.storage() != p.storage());  // a copy, not a view
  // Only the last axis, float64 and a transposed (non-contiguous) input.
  const Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64).transpose(0, 1);  // [[1,4],[2,5],[3,6]]
  Tensor pt = pad(t, {2, 1});
  CHECK(pt.shape() == Shape{3, 5});
  CHECK(pt.to_vector() == std::vector<double>{0, 0, 1, 4, 0, 0, 0, 2, 5, 0, 0, 0, 3, 6, 0});
  // MNIST 28 -> 32, round trip on random data.
  const Tensor img = randn({3, 1, 28, 28}, DType::F32, 1);
  Tensor big = pad(img, {2, 2, 2, 2}, -1.0);
  CHECK(big.shape() == Shape{3, 1, 32, 32});
  CHECK(big.at({2, 0, 0, 31}) == -1.0);
  CHECK(big.at({1, 0, 2, 2}) == img.at({1, 0, 0, 0}));
  CHECK(unpad(big, {2, 2, 2, 2}).to_vector() == img.to_vector());
  // Three axes padded, int64 values.
  const Tensor ix = Tensor::from_indices({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  Tensor pi = pad(ix, {0, 1, 1, 0, 1, 1}, 9);
  CHECK(pi.shape() == Shape{4, 3, 3});
  CHECK(pi.dtype() == DType::I64);
  CHECK(pi.at({1, 1, 0}) == 1);
  CHECK(pi.at({2, 2, 1}) == 8);
  CHECK(pi.at({0, 1, 0}) == 9);
  CHECK(unpad(pi, {0, 1, 1, 0, 1, 1}).to_vector() == ix.to_vector());
}

TEST_CASE("concat joins along an axis and split takes it apart as views", "[shape_ops]") {
  const Tensor a = Tensor::from_vector({1, 2}, {1, 2}), b = Tensor::from_vector({3, 4, 5, 6}, {2, 2});
  Tensor c0 = concat({a, b}, 0);
  CHECK(c0.shape() == Shape{3, 2});
  CHECK(c0.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  Tensor c1 = concat({b, b.transpose(0, 1)}, -1);  // [[3,4],[5,6]] | [[3,5],[4,6]]
  CHECK(c1.shape() == Shape{2, 4});
  CHECK(c1.to_vector() == std::vector<double>{3, 4, 3, 5, 5, 6, 4, 6});

  // U-Net skip connection: channels side by side, compared element by element.
  const Tensor h = randn({2, 3, 4, 5}, DType::F64, 2), skip = randn({2, 2, 4, 5}, DType::F64, 3);
  Tensor hs = concat({h, skip}, 1);
  REQUIRE(hs.shape() == Shape{2, 5, 4, 5});
  bool ok = true;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 5; ++j)
          ok = ok && hs.at({n, c, i, j}) == (c < 3 ? h.at({n, c, i, j}) : skip.at({n, c - 3, i, j}));
  CHECK(ok);
  std::vector<Tensor> parts = split(hs, {3, 2}, 1);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].storage() == hs.storage());  // views
  CHECK(parts[0].to_vector() == h.to_vector());
  CHECK(parts[1].to_vector() == skip.to_vector());
  std::vector<Tensor> three = split(Tensor::arange(0, 6, 1), {1, 0, 5}, 0);
  CHECK(three[1].numel() == 0);
  CHECK(three[2].to_vector() == std::vector<double>{1, 2, 3, 4, 5});
}

TEST_CASE("stack adds a new axis", "[shape_ops]") {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}),
               b = Tensor::from_vector({7, 8, 9, 10, 11, 12}, {2, 3});
  CHECK(stack({a, b}, 0).shape() == Shape{2, 2, 3});
  CHECK(stack({a, b}, 0).to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor s1 = stack({a, b}, 1);
  CHECK(s1.shape() == Shape{2, 2, 3});
  CHECK(s1.to_vector() == std::vector<double>{1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12});
  Tensor s2 = stack({a, b}, -1);
  CHECK(s2.shape() == Shape{2, 3, 2});
  CHECK(s2.to_vector() == std::vector<double>{1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12});
}

TEST_CASE("index_select picks rows and its backward accumulates repeats", "[shape_ops]") {
  const Tensor table = Tensor::arange(0, 12, 1, DType::F64).reshape({4, 3});  // row r = (3r, 3r+1, 3r+2)
  const Tensor ids = Tensor::from_indices({2, 0, 2}, {3});
  Tensor e = index_select(table, 0, ids);
  CHECK(e.shape() == Shape{3, 3});
  CHECK(e.to_vector() == std::vector<double>{6, 7, 8, 0, 1, 2, 6, 7, 8});
  Tensor cols = index_select(table, 1, Tensor::from_indices({2, 2, 0, 1}, {4}));
  CHECK(cols.shape() == Shape{4, 4});
  CHECK(cols.to_vector() == std::vector<double>{2, 2, 0, 1, 5, 5, 3, 4, 8, 8, 6, 7, 11, 11, 9, 10});
  // Backward: rows 2 and 0 receive their gradients, row 2 twice; rows 1 and 3 stay zero.
  const Tensor g = Tensor::from_vector({1, 2, 3, 10, 20, 30, 100, 200, 300}, {3, 3}, DType::F64);
  Tensor d = index_select_backward(g, 0, ids, {4, 3});
  CHECK(d.to_vector() == std::vector<double>{10, 20, 30, 0, 0, 0, 101, 202, 303, 0, 0, 0});
  // 0-d index keeps the axis with extent 1.
  CHECK(index_select(table, 0, Tensor::from_indices({3}, {})).to_vector() == std::vector<double>{9, 10, 11});
}

TEST_CASE("index_select and its backward match direct loops on random data", "[shape_ops]") {
  // Axis 1 of (outer, V, inner): outer = 5 (threads over outer) and outer = 1 (threads over
  // features); float32 sums of at most ~40 values: tolerance 1e-4.
  for (const Shape& shape : {Shape{5, 7, 33}, Shape{1, 7, 600}, Shape{6, 9}}) {
    const Tensor x = randn(shape, DType::F32, 5);
    const Tensor idx = randint(shape[1], {40}, 6);
    Tensor y = index_select(x, 1, idx);
    Shape ys = shape;
    ys[1] = 40;
    REQUIRE(y.shape() == ys);
    const Tensor g = randn(ys, DType::F32, 7);
    Tensor dx = index_select_backward(g, 1, idx, shape);
    const int64_t inner = shape.size() == 3 ? shape[2] : 1;
    const std::vector<double> xv = x.to_vector(), yv = y.to_vector(), gv = g.to_vector(), dv = dx.to_vector();
    std::vector<double> ref(xv.size(), 0.0);
    bool fwd_ok = true;
    for (int64_t o = 0; o < shape[0]; ++o)
      for (int64_t k = 0; k < 40; ++k)
        for (int64_t f = 0; f < inner; ++f) {
          const int64_t row = static_cast<int64_t>(idx.at({k}));
          fwd_ok = fwd_ok && yv[(o * 40 + k) * inner + f] == xv[(o * shape[1] + row) * inner + f];
          ref[(o * shape[1] + row) * inner + f] += gv[(o * 40 + k) * inner + f];
        }
    CHECK(fwd_ok);
    double worst = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(ref[i] - dv[i]));
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("gather follows torch.gather and its backward scatter-adds", "[shape_ops]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64);
  Tensor g1 = gather(x, 1, Tensor::from_indices({2, 0, 1, 1}, {2, 2}));
  CHECK(g1.shape() == Shape{2, 2});
  CHECK(g1.to_vector() == std::vector<double>{3, 1, 5, 5});
  Tensor g0 = gather(x, 0, Tensor::from_indices({1, 0, 1}, {1, 3}));
  CHECK(g0.to_vector() == std::vector<double>{4, 2, 6});
  // Backward of the axis-1 gather: row 1 gets both grads at column 1.
  const Tensor grad = Tensor::from_vector({10, 20, 30, 40}, {2, 2}, DType::F64);
  Tensor d = gather_backward(grad, 1, Tensor::from_indices({2, 0, 1, 1}, {2, 2}), {2, 3});
  CHECK(d.to_vector() == std::vector<double>{20, 0, 10, 0, 70, 0});
  // Transposed input: gather reads through strides.
  Tensor gt = gather(x.transpose(0, 1), 1, Tensor::from_indices({1, 0, 1}, {3, 1}));  // xT = [[1,4],[2,5],[3,6]]
  CHECK(gt.to_vector() == std::vector<double>{4, 2, 6});
}

TEST_CASE("gather and gather_backward match direct loops on 3-d data", "[shape_ops]") {
  // Index smaller than x on the non-gathered axes, as torch.gather allows.
  const Tensor x = randn({3, 5, 4}, DType::F64, 8);
  for (int64_t axis : {0, 1, 2}) {
    Shape is{2, 4, 3};
    const Tensor idx = randint(x.shape()[axis], is, 9 + static_cast<uint32_t>(axis));
    Tensor y = gather(x, axis, idx);
    REQUIRE(y.shape() == is);
    const Tensor g = randn(is, DType::F64, 12);
    Tensor dx = gather_backward(g, axis, idx, x.shape());
    Tensor ref = Tensor::zeros(x.shape(), DType::F64);
    bool ok = true;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t k = 0; k < 3; ++k) {
          std::vector<int64_t> src{i, j, k};
          src[static_cast<size_t>(axis)] = static_cast<int64_t>(idx.at({i, j, k}));
          ok = ok && y.at({i, j, k}) == x.at(src);
          ref.set(src, ref.at(src) + g.at({i, j, k}));
        }
    CHECK(ok);
    CHECK(dx.to_vector() == ref.to_vector());  // same summation order (index order along the axis)
  }
}

TEST_CASE("one_hot marks one class per row", "[shape_ops]") {
  Tensor o = one_hot(Tensor::from_indices({2, 0, 1}, {3}), 4);
  CHECK(o.shape() == Shape{3, 4});
  CHECK(o.dtype() == DType::F32);
  CHECK(o.to_vector() == std::vector<double>{0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0});
  CHECK(one_hot(Tensor::from_indices({1, 0}, {2, 1}), 2, DType::F64).shape() == Shape{2, 1, 2});
}

TEST_CASE("shape ops explain bad inputs", "[shape_ops]") {
  const Tensor table = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH(index_select(table, 0, Tensor::from_indices({1, 7}, {2})),
                    Catch::Contains("index_select: index 7 is out of range for axis 0 with extent 4"));
  CHECK_THROWS_WITH(index_select(table, 0, Tensor::from_indices({-1}, {1})),
                    Catch::Contains("index -1 is out of range for axis 0 with extent 4"));
  CHECK_THROWS_WITH(index_select(table, 0, Tensor::from_vector({1}, {1})),
                    Catch::Contains("index must be int64, got float32"));
  CHECK_THROWS_WITH(index_select_backward(Tensor::zeros({2, 3}), 0, Tensor::from_indices({0, 4}, {2}), {4, 3}),
                    Catch::Contains("index 4 is out of range for axis 0 with extent 4"));
  CHECK_THROWS_WITH(index_select_backward(Tensor::zeros({3, 3}), 0, Tensor::from_indices({0, 1}, {2}), {4, 3}),
                    Catch::Contains("grad has shape (3, 3) but index_select of (4, 3) with 2 indices gives (2, 3)"));
  CHECK_THROWS_WITH(gather(table, 1, Tensor::from_indices({3}, {1, 1})),
                    Catch::Contains("gather: index 3 is out of range for axis 1 with extent 3"));
  CHECK_THROWS_WITH(gather(table, 1, Tensor::from_indices({0}, {1})), Catch::Contains("must have the rank"));
  CHECK_THROWS_WITH(one_hot(Tensor::from_indices({5}, {1}), 3),
                    Catch::Contains("index 5 is out of range for 3 classes"));
  CHECK_THROWS_WITH(concat({Tensor::zeros({2, 3}), Tensor::zeros({3, 4})}, 0),
                    Catch::Contains("concat: tensor 1 has shape (3, 4) but tensor 0 has (2, 3)"));
  CHECK_THROWS_WITH(concat({Tensor::zeros({2}), Tensor::zeros({2}, DType::F64)}, 0),
                    Catch::Contains("tensor 1 is float64 but tensor 0 is float32"));
  CHECK_THROWS_WITH(split(table, {1, 2}, 0), Catch::Contains("sizes sum to 3 but axis 0 of shape (4, 3) has extent 4"));
  CHECK_THROWS_WITH(stack({Tensor::zeros({2}), Tensor::zeros({3})}, 0),
                    Catch::Contains("tensor 1 has shape (3,) but tensor 0 has (2,)"));
  CHECK_THROWS_WITH(pad(table, {1, 1, 1}), Catch::Contains("(before, after) pairs"));
  CHECK_THROWS_WITH(pad(table, {1, 1, 1, 1, 1, 1}), Catch::Contains("3 pad pairs given for a tensor of shape (4, 3)"));
  CHECK_THROWS_WITH(unpad(table, {2, 2}), Catch::Contains("cannot crop 2 + 2 from axis 1 of extent 3"));
}
