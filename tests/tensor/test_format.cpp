// Tests of tensor printing: exact strings for small cases (layout as torch prints it, checked
// against python3-torch 1.13 with threshold=10, plus our shape/dtype suffix) and elision.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tensor/tensor.h"

using namespace tinydiff;

TEST_CASE("small tensors print exactly", "[format]") {
  CHECK(to_string(Tensor::from_vector({1, 2, 3, 4}, {2, 2})) ==
        "tensor([[1.0000, 2.0000],\n"
        "        [3.0000, 4.0000]], shape=(2, 2), dtype=float32)");
  // Every entry right-aligned to the widest one.
  CHECK(to_string(Tensor::from_vector({1, -2.5, 3.25, -40}, {2, 2}, DType::F64)) ==
        "tensor([[  1.0000,  -2.5000],\n"
        "        [  3.2500, -40.0000]], shape=(2, 2), dtype=float64)");
  CHECK(to_string(Tensor::from_indices({3, -12, 7}, {3})) == "tensor([  3, -12,   7], shape=(3,), dtype=int64)");
  // int64 prints exactly, beyond 2^53.
  CHECK(to_string(Tensor::from_indices({std::numeric_limits<int64_t>::max()}, {1})) ==
        "tensor([9223372036854775807], shape=(1,), dtype=int64)");
  CHECK(to_string(Tensor::from_vector({0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5}, {2, 2, 2})) ==
        "tensor([[[0.5000, 1.5000],\n"
        "         [2.5000, 3.5000]],\n"
        "\n"
        "        [[4.5000, 5.5000],\n"
        "         [6.5000, 7.5000]]], shape=(2, 2, 2), dtype=float32)");
}

TEST_CASE("0-d, empty and undefined tensors", "[format]") {
  CHECK(to_string(Tensor::scalar(3.5)) == "tensor(3.5000, shape=(), dtype=float32)");
  CHECK(to_string(Tensor::scalar(-7, DType::I64)) == "tensor(-7, shape=(), dtype=int64)");
  CHECK(to_string(Tensor::zeros({0, 3})) == "tensor([], shape=(0, 3), dtype=float32)");
  CHECK(to_string(Tensor()) == "tensor(undefined)");
}

TEST_CASE("scientific notation and non-finite values", "[format]") {
  // torch's rule: scientific when nonzero magnitudes span > 1e3, exceed 1e8 or fall below 1e-4.
  CHECK(to_string(Tensor::from_vector({1e-5, 1, 2, 3}, {2, 2})) ==
        "tensor([[1.0000e-05, 1.0000e+00],\n"
        "        [2.0000e+00, 3.0000e+00]], shape=(2, 2), dtype=float32)");
  CHECK(to_string(Tensor::from_vector({1e9, 2}, {2}, DType::F64)) ==
        "tensor([1.0000e+09, 2.0000e+00], shape=(2,), dtype=float64)");
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK(to_string(Tensor::from_vector({nan, inf, -inf, 1.5}, {4})) ==
        "tensor([   nan,    inf,   -inf, 1.5000], shape=(4,), dtype=float32)");
  CHECK(to_string(Tensor::zeros({2})) == "tensor([0.0000, 0.0000], shape=(2,), dtype=float32)");
}

TEST_CASE("views print their own elements", "[format]") {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // (3, 2), strides (1, 3)
  CHECK(to_string(t) ==
        "tensor([[1.0000, 4.0000],\n"
        "        [2.0000, 5.0000],\n"
        "        [3.0000, 6.0000]], shape=(3, 2), dtype=float32)");
  CHECK(to_string(Tensor::from_vector({2}, {1}).expand({2, 3})) ==
        "tensor([[2.0000, 2.0000, 2.0000],\n"
        "        [2.0000, 2.0000, 2.0000]], shape=(2, 3), dtype=float32)");
}

TEST_CASE("axes longer than 6 are elided to 3 + ... + 3", "[format]") {
  // As in torch, the gap is " ..." inside a row and "..." on a line of its own.
  CHECK(to_string(Tensor::arange(0, 6)) ==
        "tensor([0.0000, 1.0000, 2.0000, 3.0000, 4.0000, 5.0000], shape=(6,), dtype=float32)");
  CHECK(to_string(Tensor::arange(0, 7)) ==
        "tensor([0.0000, 1.0000, 2.0000,  ..., 4.0000, 5.0000, 6.0000], shape=(7,), dtype=float32)");
  // torch.arange(1000).reshape(10, 10, 10)[:, :, :2]: elided outer and middle axes of a strided view.
  Tensor x = Tensor::from_indices(
                 [] {
                   std::vector<int64_t> v(1000);
                   for (int64_t i = 0; i < 1000; ++i) v[static_cast<size_t>(i)] = i;
                   return v;
                 }(),
                 {10, 10, 10})
                 .slice(2, 0, 2);
  std::string expected = "tensor([";
  const int64_t blocks[] = {0, 1, 2, -1, 7, 8, 9};
  const int64_t rows[] = {0, 1, 2, -1, 7, 8, 9};
  for (int64_t b : blocks) {
    if (b != 0) expected += ",\n\n        ";
    if (b < 0) {
      expected += "...";
      continue;
    }
    expected += "[";
    for (int64_t r : rows) {
      if (r != 0) expected += ",\n         ";
      expected += r < 0 ? "..." : fmt::format("[{:3}, {:3}]", 100 * b + 10 * r, 100 * b + 10 * r + 1);
    }
    expected += "]";
  }
  expected += "], shape=(10, 10, 2), dtype=int64)";
  CHECK(to_string(x) == expected);
  // The literal beginning, as torch prints it.
  const std::string head =
      "tensor([[[  0,   1],\n"
      "         [ 10,  11],\n"
      "         [ 20,  21],\n"
      "         ...,\n"
      "         [ 70,  71],\n";
  CHECK(to_string(x).substr(0, head.size()) == head);
}

TEST_CASE("a large tensor prints 7 rows of 7 entries", "[format]") {
  Tensor big = Tensor::arange(0, 1e6).reshape({1000, 1000});
  const std::string s = to_string(big);
  CHECK(std::count(s.begin(), s.end(), '\n') == 6);
  CHECK(s.find("...") != std::string::npos);
  // Values span 1 .. 999999 (> 1e3), so scientific notation, torch style.
  const std::string head =
      "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.9700e+02, 9.9800e+02, 9.9900e+02],\n"
      "        [1.0000e+03, ";
  CHECK(s.substr(0, head.size()) == head);
}

TEST_CASE("fmt formats tensors and dtypes", "[format]") {
  Tensor t = Tensor::from_vector({1, 2}, {2}, DType::F64);
  CHECK(fmt::format("{}", t) == to_string(t));
  CHECK(fmt::format("x = {}", Tensor()) == "x = tensor(undefined)");
  CHECK(fmt::format("{}", DType::I64) == "int64");
  CHECK(fmt::format("{}", DType::F32) == "float32");
}

TEST_CASE("group_thousands puts a comma between groups of three digits", "[format]") {
  CHECK(group_thousands(0) == "0");
  CHECK(group_thousands(999) == "999");
  CHECK(group_thousands(1000) == "1,000");
  CHECK(group_thousands(76441) == "76,441");
  CHECK(group_thousands(1292001) == "1,292,001");
  CHECK(group_thousands(-123) == "-123");
  CHECK(group_thousands(-1234) == "-1,234");
  CHECK(group_thousands(std::numeric_limits<int64_t>::min()) == "-9,223,372,036,854,775,808");
}
