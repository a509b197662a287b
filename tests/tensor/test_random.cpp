// Tests of the Philox generator: known answers, the stream layout, thread-count independence,
// exact replay, and the distributions' moments on 1e6 samples.
//
// Statistical checks use a fixed seed, so they are deterministic; the thresholds are still
// chosen so that a correct generator would fail them with probability about 1e-6 or less
// (5 standard errors, or the chi-square 1 - 1e-6 quantile), while a wrong transform fails them by far.
#include <omp.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

// Runs f with OpenMP set to `threads` threads, restoring the previous setting.
template <typename F>
auto with_threads(int threads, F&& f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto result = f();
  omp_set_num_threads(before);
  return result;
}

struct Moments {
  double mean = 0, var = 0, m4 = 0;  // mean, variance and fourth central moment
};

Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) {
    const double d = (x - m.mean) * (x - m.mean);
    m.var += d;
    m.m4 += d * d;
  }
  m.var /= static_cast<double>(v.size());
  m.m4 /= static_cast<double>(v.size());
  return m;
}

// Pearson's chi-square statistic of observed counts against equal expected counts.
double chi_square(const std::vector<int64_t>& counts, double expected) {
  double chi2 = 0;
  for (int64_t c : counts) chi2 += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return chi2;
}

}  // namespace

TEST_CASE("philox4x32 matches the Random123 known-answer vectors", "[random]") {
  // From Random123's kat_vectors ("philox4x32 10"); checked independently by
  // tools/philox_reference.py, written from the SC'11 paper's definition.
  using W = std::array<uint32_t, 4>;
  CHECK(philox4x32({0, 0, 0, 0}, {0, 0}) == W{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
        W{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
        W{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("element i of a draw is a function of (seed, offset + block)", "[random]") {
  // The documented layout: block b under seed s is philox4x32({lo(b), hi(b), 0, 0}, {lo(s), hi(s)}).
  const uint64_t seed = 0x0123456789abcdefULL;
  auto block = [&](uint64_t b) {
    return philox4x32({static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), 0, 0},
                      {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  };
  Generator gen(seed);
  gen.set_state({seed, (uint64_t{1} << 32) + 5});  // a counter above 2^32 exercises the high word
  const uint64_t first = gen.state().offset;
  Tensor u = gen.uniform({10});  // float32: 4 values a block, top 24 bits -> 3 blocks
  CHECK(gen.state().offset == first + 3);
  for (int64_t i = 0; i < 10; ++i) {
    const uint32_t w = block(first + static_cast<uint64_t>(i / 4))[static_cast<size_t>(i % 4)];
    CHECK(u.at({i}) == static_cast<double>(w >> 8) / 16777216.0);
  }
  Tensor d = gen.uniform({3}, 0.0, 1.0, DType::F64);  // float64: 2 values a block, top 53 bits -> 2 blocks
  CHECK(gen.state().offset == first + 5);
  for (int64_t i = 0; i < 3; ++i) {
    const auto w = block(first + 3 + static_cast<uint64_t>(i / 2));
    const uint64_t x = (uint64_t{w[2 * (i % 2)]} << 32) | w[2 * (i % 2) + 1];
    CHECK(d.at({i}) == std::ldexp(static_cast<double>(x >> 11), -53));
  }
}

TEST_CASE("draws do not depend on the number of threads", "[random]") {
  // 100003 values: large enough for parallel_for to split, and not a multiple of a block.
  const Shape shape{100003};
  auto draw_all = [&] {
    Generator gen(7);
    std::vector<std::vector<double>> out;
    out.push_back(gen.uniform(shape).to_vector());
    out.push_back(gen.uniform(shape, -1.0, 2.0, DType::F64).to_vector());
    out.push_back(gen.normal(shape).to_vector());
    out.push_back(gen.normal(shape, 1.0, 3.0, DType::F64).to_vector());
    out.push_back(gen.randint(-5, 1000, shape).to_vector());
    out.push_back(gen.bernoulli(shape, 0.25).to_vector());
    out.push_back(gen.randperm(1000).to_vector());
    out.push_back({static_cast<double>(gen.state().offset)});
    return out;
  };
  const auto one = with_threads(1, draw_all);
  const auto two = with_threads(2, draw_all);
  REQUIRE(one.size() == two.size());
  for (size_t k = 0; k < one.size(); ++k) CHECK(one[k] == two[k]);
}

TEST_CASE("set_state replays a stream exactly", "[random]") {
  Generator gen(123);
  gen.normal({17});
  const Generator::State saved = gen.state();
  const auto a1 = gen.normal({2, 33}).to_vector();
  const auto a2 = gen.randint(0, 10, {9}).to_vector();
  const double a3 = gen.uniform_double();
  const auto a4 = gen.randperm(50).to_vector();
  const Generator::State after = gen.state();

  gen.set_state(saved);
  CHECK(gen.normal({2, 33}).to_vector() == a1);
  CHECK(gen.randint(0, 10, {9}).to_vector() == a2);
  CHECK(gen.uniform_double() == a3);
  CHECK(gen.randperm(50).to_vector() == a4);
  CHECK(gen.state().offset == after.offset);

  // A fresh generator with the same seed gives the same values; a different seed does not.
  Generator same(123), other(124);
  const auto x = same.uniform({64}).to_vector();
  CHECK(Generator(123).uniform({64}).to_vector() == x);
  CHECK(other.uniform({64}).to_vector() != x);
  // Consecutive draws differ (the offset advanced).
  CHECK(same.uniform({64}).to_vector() != x);
}

TEST_CASE("each draw advances the offset by the blocks it used", "[random]") {
  Generator gen(1);
  gen.uniform({5});  // 4 float32 a block -> 2
  CHECK(gen.state().offset == 2);
  gen.normal({5}, 0, 1, DType::F64);  // 2 float64 a block -> 3
  CHECK(gen.state().offset == 5);
  gen.randint(0, 3, {3});  // 2 a block -> 2
  CHECK(gen.state().offset == 7);
  gen.bernoulli({8}, 0.5);  // 4 a block -> 2
  CHECK(gen.state().offset == 9);
  gen.randperm(6);  // 5 swaps, 2 a block -> 3
  CHECK(gen.state().offset == 12);
  gen.uniform({0, 4});  // empty: no blocks
  CHECK(gen.state().offset == 12);
  gen.randint_scalar(0, 5);
  gen.uniform_double();
  CHECK(gen.state().offset == 14);
}

TEST_CASE("normal has mean 0, variance 1, kurtosis 3 and Gaussian tails", "[random]") {
  const double n = 1e6;
  for (DType dtype : {DType::F32, DType::F64}) {
    Generator gen(2024);
    const auto v = gen.normal({1000, 1000}, 0.0, 1.0, dtype).to_vector();
    const Moments m = moments(v);
    // Standard errors for N(0, 1): mean 1/sqrt(n); variance sqrt(2/n); fourth moment sqrt(96/n).
    CHECK(std::fabs(m.mean) < 5 / std::sqrt(n));
    CHECK(std::fabs(m.var - 1.0) < 5 * std::sqrt(2.0 / n));
    CHECK(std::fabs(m.m4 - 3.0) < 5 * std::sqrt(96.0 / n));
    // P(|z| > 2) = 0.0455003; binomial standard error sqrt(p (1 - p) / n).
    const double tail =
        static_cast<double>(std::count_if(v.begin(), v.end(), [](double x) { return std::fabs(x) > 2; })) / n;
    CHECK(std::fabs(tail - 0.0455003) < 5 * std::sqrt(0.0455 * 0.9545 / n));
    // Neighbours are independent (Box-Muller's two outputs too): lag-1 correlation within 5 / sqrt(n).
    double lag1 = 0;
    for (size_t i = 0; i + 1 < v.size(); ++i) lag1 += (v[i] - m.mean) * (v[i + 1] - m.mean);
    CHECK(std::fabs(lag1 / (n - 1) / m.var) < 5 / std::sqrt(n));
    for (double x : v) REQUIRE(std::isfinite(x));
  }
  // Mean and stddev arguments scale and shift.
  Generator gen(5);
  const Moments m = moments(gen.normal({1000000}, 3.0, 0.5).to_vector());
  CHECK(std::fabs(m.mean - 3.0) < 5 * 0.5 / std::sqrt(n));
  CHECK(std::fabs(m.var - 0.25) < 5 * 0.25 * std::sqrt(2.0 / n));
}

TEST_CASE("uniform has the moments of U(lo, hi) and never reaches hi", "[random]") {
  const double n = 1e6;
  for (DType dtype : {DType::F32, DType::F64}) {
    Generator gen(99);
    const auto v = gen.uniform({1000000}, 0.0, 1.0, dtype).to_vector();
    const Moments m = moments(v);
    // U(0,1): mean 1/2 (SE sqrt(1/12 / n)), variance 1/12 (SE sqrt((1/80 - 1/144) / n)).
    CHECK(std::fabs(m.mean - 0.5) < 5 * std::sqrt(1.0 / 12.0 / n));
    CHECK(std::fabs(m.var - 1.0 / 12.0) < 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
    CHECK(*std::min_element(v.begin(), v.end()) >= 0.0);
    CHECK(*std::max_element(v.begin(), v.end()) < 1.0);
    // Ten equal bins: chi-square with 9 degrees of freedom, 1 - 1e-6 quantile 44.81.
    std::vector<int64_t> bins(10, 0);
    for (double x : v) ++bins[static_cast<size_t>(x * 10)];
    CHECK(chi_square(bins, n / 10) < 44.81);
  }
  Generator gen(3);
  const auto w = gen.uniform({10000}, -2.0, 3.0).to_vector();
  CHECK(*std::min_element(w.begin(), w.end()) >= -2.0);
  CHECK(*std::max_element(w.begin(), w.end()) < 3.0);
  // [1, 1 + 2^-22) holds two floats (1 and 1 + 2^-23); lo + (hi - lo) u rounds to hi for about a
  // quarter of the draws, which must be stepped back below hi.
  const float hi = 1.0f + std::ldexp(1.0f, -22);
  const auto t = gen.uniform({10000}, 1.0, hi).to_vector();
  for (double x : t) REQUIRE((x >= 1.0 && x < hi));
  // lo == hi gives lo.
  CHECK(gen.uniform({3}, 2.5, 2.5).to_vector() == std::vector<double>{2.5, 2.5, 2.5});
}

TEST_CASE("randint stays within lo to hi - 1 and is roughly uniform", "[random]") {
  Generator gen(11);
  const auto v = gen.randint(-3, 7, {100000}).to_vector();
  std::vector<int64_t> counts(10, 0);
  for (double x : v) {
    REQUIRE(x >= -3);
    REQUIRE(x < 7);
    ++counts[static_cast<size_t>(x + 3)];
  }
  // Chi-square with 9 degrees of freedom, 1 - 1e-6 quantile 44.81; a biased mapping (e.g. one
  // value never drawn) gives about 10000 here.
  CHECK(chi_square(counts, 10000.0) < 44.81);

  // Wide and extreme ranges do not overflow.
  Tensor wide = gen.randint(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), {1000});
  const int64_t* pw = wide.data<int64_t>();
  CHECK(std::count_if(pw, pw + 1000, [](int64_t x) { return x < 0; }) > 400);  // about half negative
  // A range of 3 * 2^62 (beyond int64): x mod range would put half the draws in the lowest
  // third; multiply-shift puts a third there (binomial SE sqrt(2/9 / 1e4)).
  const int64_t lowest = std::numeric_limits<int64_t>::min();
  Tensor third = gen.randint(lowest, int64_t{1} << 62, {10000});
  const int64_t* pt = third.data<int64_t>();
  const auto in_low_third = std::count_if(pt, pt + 10000, [](int64_t x) { return x < -(int64_t{1} << 62); });
  CHECK(std::fabs(static_cast<double>(in_low_third) / 1e4 - 1.0 / 3.0) < 5 * std::sqrt(2.0 / 9.0 / 1e4));
  Tensor big = gen.randint(int64_t{1} << 40, (int64_t{1} << 40) + 3, {1000});
  const int64_t* pb = big.data<int64_t>();
  CHECK(*std::min_element(pb, pb + 1000) == (int64_t{1} << 40));
  CHECK(*std::max_element(pb, pb + 1000) == (int64_t{1} << 40) + 2);
  CHECK(gen.randint(4, 5, {5}).to_vector() == std::vector<double>(5, 4.0));
  for (int i = 0; i < 100; ++i) {
    const int64_t s = gen.randint_scalar(-2, 2);
    REQUIRE((s >= -2 && s < 2));
  }
}

TEST_CASE("randperm is a permutation with uniformly distributed orders", "[random]") {
  Generator gen(17);
  for (int64_t n : {0, 1, 2, 10, 1001}) {
    Tensor p = gen.randperm(n);
    REQUIRE(p.dtype() == DType::I64);
    REQUIRE(p.shape() == Shape{n});
    std::vector<int64_t> v(p.data<int64_t>(), p.data<int64_t>() + n);
    std::sort(v.begin(), v.end());
    for (int64_t i = 0; i < n; ++i) REQUIRE(v[static_cast<size_t>(i)] == i);
  }
  CHECK(gen.randperm(1001).to_vector() != gen.randperm(1001).to_vector());
  // All 6 orders of 3 items equally likely: chi-square with 5 degrees of freedom over 60000
  // shuffles, 1 - 1e-6 quantile 35.89. The classic bug (j drawn from [0, n) at every step)
  // gives the orders in ratio 4:5:5:4:5:4 (chi-square about 740) and fails by far.
  std::map<std::vector<double>, int64_t> seen;
  for (int i = 0; i < 60000; ++i) ++seen[gen.randperm(3).to_vector()];
  REQUIRE(seen.size() == 6);
  std::vector<int64_t> counts;
  for (const auto& [order, c] : seen) counts.push_back(c);
  CHECK(chi_square(counts, 10000.0) < 35.89);
}

TEST_CASE("bernoulli fires at rate p", "[random]") {
  const double n = 1e6;
  Generator gen(21);
  for (DType dtype : {DType::F32, DType::F64}) {
    const auto v = gen.bernoulli({1000000}, 0.3, dtype).to_vector();
    double ones = 0;
    for (double x : v) {
      REQUIRE((x == 0.0 || x == 1.0));
      ones += x;
    }
    // Binomial standard error sqrt(p (1 - p) / n).
    CHECK(std::fabs(ones / n - 0.3) < 5 * std::sqrt(0.21 / n));
  }
  CHECK(gen.bernoulli({1000}, 0.0).to_vector() == std::vector<double>(1000, 0.0));
  CHECK(gen.bernoulli({1000}, 1.0).to_vector() == std::vector<double>(1000, 1.0));
}

TEST_CASE("bad arguments throw errors naming the op and leave the stream alone", "[random]") {
  Generator gen(0);
  CHECK_THROWS_WITH(gen.uniform({2}, 1.0, 0.0), Catch::Contains("uniform") && Catch::Contains("lo <= hi"));
  CHECK_THROWS_WITH(gen.uniform({2}, 0.0, 1.0, DType::I64), Catch::Contains("uniform") && Catch::Contains("int64"));
  CHECK_THROWS_WITH(gen.normal({2}, 0.0, -1.0), Catch::Contains("normal") && Catch::Contains("stddev"));
  CHECK_THROWS_WITH(gen.randint(3, 3, {2}), Catch::Contains("randint") && Catch::Contains("lo < hi"));
  CHECK_THROWS_WITH(gen.bernoulli({2}, 1.5), Catch::Contains("bernoulli") && Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(gen.randperm(-1), Catch::Contains("randperm"));
  CHECK_THROWS_WITH(gen.randint_scalar(1, 0), Catch::Contains("randint_scalar"));
  CHECK(gen.state().offset == 0);
}
