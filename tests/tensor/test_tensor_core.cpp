// Tests of the Tensor class: layout, views, copies, factories and their error messages.
#include <catch2/catch.hpp>

#include "tensor/tensor.h"

using namespace tinydiff;

TEST_CASE("a new tensor is contiguous with row-major strides", "[tensor][core]") {
  Tensor t = Tensor::zeros({2, 3, 4});
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.strides() == Shape{12, 4, 1});
  CHECK(t.numel() == 24);
  CHECK(t.is_contiguous());
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
}

TEST_CASE("a tensor without elements is contiguous, whatever its shape", "[tensor][core]") {
  // (A fuzz finding: shape (0, 0) was reported non-contiguous, so loading it failed a check.)
  for (const Shape& shape : {Shape{0}, Shape{0, 0}, Shape{3, 0}, Shape{0, 5}, Shape{2, 0, 4}}) {
    INFO(shape_str(shape));
    const Tensor t = Tensor::zeros(shape);
    CHECK(t.numel() == 0);
    CHECK(t.is_contiguous());
    CHECK(t.contiguous().is_contiguous());
  }
  CHECK_FALSE(Tensor::zeros({2, 3}).transpose(0, 1).is_contiguous());  // the check still works
}

TEST_CASE("views share storage and see each other's writes", "[tensor][core]") {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3}, DType::F64);
  Tensor tt = t.transpose(0, 1);
  CHECK(tt.shape() == Shape{3, 2});
  CHECK_FALSE(tt.is_contiguous());
  CHECK(tt.at({2, 1}) == 5.0);
  tt.set({0, 1}, 42.0);
  CHECK(t.at({1, 0}) == 42.0);
  Tensor s = t.slice(1, 1, 3);
  CHECK(s.shape() == Shape{2, 2});
  CHECK(s.to_vector() == std::vector<double>{1, 2, 4, 5});
  Tensor e = Tensor::from_vector({1, 2, 3}, {3, 1}).expand({3, 4});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(e.at({2, 3}) == 3.0);
}

TEST_CASE("reshape is a view when possible and copies otherwise", "[tensor][core]") {
  Tensor t = Tensor::arange(0, 24, 1, DType::F32).reshape({2, 3, 4});
  Tensor v = t.reshape({6, -1});
  CHECK(v.shape() == Shape{6, 4});
  CHECK(v.storage() == t.storage());
  // (4, 2, 3) with strides (1, 12, 4): the last two axes still merge, so this is a view.
  Tensor q = t.permute({2, 0, 1}).reshape({4, 6});
  CHECK(q.storage() == t.storage());
  CHECK(q.at({1, 4}) == t.at({1, 1, 1}));
  // (3, 2, 4) with strides (4, 12, 1): axes 0 and 1 cannot merge, so reshape copies.
  Tensor p = t.permute({1, 0, 2});
  Tensor r = p.reshape({6, 4});
  CHECK(r.storage() != t.storage());
  CHECK(r.at({1, 1}) == t.at({1, 0, 1}));
  CHECK_THROWS_WITH(p.view({6, 4}), Catch::Contains("call contiguous() or reshape()"));
  CHECK_THROWS_WITH(t.reshape({5, 5}), Catch::Contains("cannot reshape (2, 3, 4) (24 elements) to (5, 5)"));
}

TEST_CASE("clone and contiguous copy strided data in order", "[tensor][core]") {
  Tensor t = Tensor::arange(0, 6, 1, DType::F64).reshape({2, 3}).transpose(0, 1);
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  Tensor f = t.to(DType::F32);
  CHECK(f.dtype() == DType::F32);
  CHECK(f.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("core errors name the op and the shapes", "[tensor][core][errors]") {
  Tensor t = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(t.size(2), Catch::Contains("axis 2 is out of range for a tensor of shape (2, 3)"));
  CHECK_THROWS_WITH(t.data<double>(), Catch::Contains("asked for float64 data of a float32 tensor"));
  CHECK_THROWS_WITH(t.expand({4, 3}), Catch::Contains("cannot expand (2, 3) to (4, 3)"));
  CHECK_THROWS_WITH(Tensor().reshape({1}), Catch::Contains("undefined"));
  CHECK_THROWS_AS(t.permute({0, 0}), Error);
}
