// Tests of the storage cache (Storage in tensor/tensor_core.h) and of copy_'s strided paths:
// freed blocks are reused, stats count hits and misses, the limit is honoured, memory stays
// 64-byte aligned; strided copies (transposes, broadcasts, slices, overlapping views, int64,
// float64, dtype conversion) against element-by-element references.
#include <catch2/catch.hpp>

#include <cstdint>

#include "tensor/tensor.h"

using namespace tinydiff;

TEST_CASE("storage cache reuses freed blocks of the same size class", "[tensor][storage]") {
  const int64_t saved_limit = storage_cache_limit();
  set_storage_cache_limit(int64_t{1} << 30);
  storage_cache_clear();
  const auto s0 = storage_cache_stats();
  CHECK(s0.cached_bytes == 0);
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty({1000, 37});  // 148000 bytes, class 163840 (8 steps per power of two)
    first = a.raw_data();
    CHECK(reinterpret_cast<uintptr_t>(first) % 64 == 0);
  }
  const auto s1 = storage_cache_stats();
  CHECK(s1.cached_bytes >= 148000);
  CHECK(s1.misses == s0.misses + 1);
  {
    Tensor b = Tensor::zeros({37000});  // 148000 bytes again: served from the cache
    CHECK(b.raw_data() == first);
    CHECK(b.to_vector()[12345] == 0.0);  // zeros() still clears reused memory
  }
  const auto s2 = storage_cache_stats();
  CHECK(s2.hits == s1.hits + 1);
  storage_cache_clear();
  CHECK(storage_cache_stats().cached_bytes == 0);
  // With limit 0 nothing is kept.
  set_storage_cache_limit(0);
  { Tensor c = Tensor::empty({4096}); }
  CHECK(storage_cache_stats().cached_bytes == 0);
  set_storage_cache_limit(saved_limit);
}

TEST_CASE("empty and tiny tensors allocate correctly through the cache", "[tensor][storage]") {
  Tensor e = Tensor::empty({0, 5});
  CHECK(e.numel() == 0);
  for (int64_t n : {1, 2, 15, 16, 17, 1023, 1025, 5000}) {
    Tensor t = Tensor::full({n}, 3.0, DType::F64);
    CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
    CHECK(t.at({n - 1}) == 3.0);
  }
}

namespace {
// Element-by-element reference of dst.copy_(src) for same-shaped tensors.
std::vector<double> expected_copy(const Tensor& src) { return src.to_vector(); }
}  // namespace

TEST_CASE("copy_ handles strided, broadcast and overlapping sources", "[tensor][storage][copy]") {
  // Transposed 3-d source into a contiguous destination (large enough for the threaded path).
  Tensor x = Tensor::arange(0, 64 * 48 * 40, 1, DType::F32).reshape({64, 48, 40});
  Tensor xt = x.permute({2, 0, 1});
  Tensor d = Tensor::empty(xt.shape());
  d.copy_(xt);
  CHECK(d.to_vector() == expected_copy(xt));
  // Contiguous source into a strided destination (a slice with a step).
  Tensor big = Tensor::zeros({10, 12}, DType::F64);
  Tensor src = Tensor::arange(0, 30, 1, DType::F64).reshape({5, 6});
  big.slice(0, 1, 11, 2).slice(1, 0, 12, 2).copy_(src);
  CHECK(big.at({3, 4}) == src.at({1, 2}));
  CHECK(big.at({0, 0}) == 0.0);
  CHECK(big.at({3, 5}) == 0.0);
  // Broadcast source (stride 0 on the inner and the outer axis).
  Tensor row = Tensor::from_vector({1, 2, 3}, {1, 3});
  Tensor m = Tensor::empty({4, 3});
  m.copy_(row);
  CHECK(m.to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
  Tensor col = Tensor::from_vector({7, 8}, {2, 1});
  Tensor m2 = Tensor::empty({2, 5});
  m2.copy_(col);
  CHECK(m2.to_vector() == std::vector<double>{7, 7, 7, 7, 7, 8, 8, 8, 8, 8});
  // Overlapping views of one storage: the source is read before anything is overwritten.
  Tensor v = Tensor::arange(0, 10, 1, DType::F64);
  v.slice(0, 1, 10).copy_(v.slice(0, 0, 9));
  CHECK(v.to_vector() == std::vector<double>{0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  Tensor sq = Tensor::arange(0, 9, 1, DType::F32).reshape({3, 3});
  sq.copy_(sq.transpose(0, 1));
  CHECK(sq.to_vector() == std::vector<double>{0, 3, 6, 1, 4, 7, 2, 5, 8});
  // int64 and a dtype conversion.
  Tensor ids = Tensor::from_indices({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor idt = Tensor::empty({3, 2}, DType::I64);
  idt.copy_(ids.transpose(0, 1));
  CHECK(idt.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  Tensor f64 = Tensor::empty({3, 2}, DType::F64);
  f64.copy_(ids.transpose(0, 1));
  CHECK(f64.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
}
