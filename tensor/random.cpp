// Philox 4x32-10 and the Generator's draws. See random.h.
//
// Stream layout: block b of a generator with seed s is philox4x32({lo(b), hi(b), 0, 0}, {lo(s), hi(s)}),
// four 32-bit words. A draw of n values reserves ceil(n / per_block) consecutive blocks starting
// at the current offset; value i comes from block offset + i / per_block, so it is the same
// whichever thread computes it.
#include "tensor/random.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>
#include <utility>

#include "tensor/dispatch.h"

namespace tinydiff {

namespace {

constexpr uint32_t kMul0 = 0xD2511F53u;  // Philox-4x32 multipliers (Salmon et al., table 2)
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kBump0 = 0x9E3779B9u;  // Weyl key increments: golden ratio, sqrt(3) - 1
constexpr uint32_t kBump1 = 0xBB67AE85u;

using Block = std::array<uint32_t, 4>;

inline Block philox_round(const Block& x, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = uint64_t{kMul0} * x[0];
  const uint64_t p1 = uint64_t{kMul1} * x[2];
  return {static_cast<uint32_t>(p1 >> 32) ^ x[1] ^ k0, static_cast<uint32_t>(p1),
          static_cast<uint32_t>(p0 >> 32) ^ x[3] ^ k1, static_cast<uint32_t>(p0)};
}

inline Block philox(Block x, uint32_t k0, uint32_t k1) {
  x = philox_round(x, k0, k1);
  for (int r = 1; r < 10; ++r) {
    k0 += kBump0;
    k1 += kBump1;
    x = philox_round(x, k0, k1);
  }
  return x;
}

inline Block block_words(uint64_t seed, uint64_t block) {
  return philox({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u}, static_cast<uint32_t>(seed),
                static_cast<uint32_t>(seed >> 32));
}

inline uint64_t join64(uint32_t hi, uint32_t lo) { return (uint64_t{hi} << 32) | lo; }

// Uniform in [0, 1) from the top 24 bits of a word (every float in [0, 1) of this grid is exact).
inline double unit24(uint32_t w) { return static_cast<double>(w >> 8) * 0x1p-24; }
// Uniform in [0, 1) from the top 53 bits of a 64-bit word.
inline double unit53(uint64_t x) { return static_cast<double>(x >> 11) * 0x1p-53; }
// Uniform in (0, 1] (never 0, so log() is finite) from a 32-bit word.
inline double unit32_open0(uint32_t w) { return (static_cast<double>(w) + 1.0) * 0x1p-32; }
// Uniform in (0, 1] from the top 53 bits of a 64-bit word.
inline double unit53_open0(uint64_t x) { return static_cast<double>((x >> 11) + 1) * 0x1p-53; }

// floor(x * range / 2^64): maps 64 random bits onto [0, range). Each value gets either
// floor(2^64 / range) or that plus one of the 2^64 inputs, so the relative bias is below range / 2^64.
inline uint64_t scale64(uint64_t x, uint64_t range) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * range) >> 64);
}

// Calls f(words, first_value_index, count) for each block of a draw of n values, per_block values a block.
template <typename F>
void for_blocks(uint64_t seed, uint64_t first_block, int64_t n, int64_t per_block, int64_t cost_per_value, F&& f) {
  const int64_t blocks = (n + per_block - 1) / per_block;
  parallel_for(blocks, cost_per_value * per_block, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const Block w = block_words(seed, first_block + static_cast<uint64_t>(b));
      const int64_t i0 = b * per_block;
      f(w, i0, std::min(per_block, n - i0));
    }
  });
}

int64_t blocks_for(int64_t n, int64_t per_block) { return (n + per_block - 1) / per_block; }

}  // namespace

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  return philox(counter, key[0], key[1]);
}

Generator::Generator(uint64_t seed) : state_{seed, 0} {}

uint64_t Generator::take(uint64_t blocks) {
  TD_CHECK(state_.offset <= std::numeric_limits<uint64_t>::max() - blocks, "Generator",
           fmt::format("counter overflow: offset {} + {} blocks", state_.offset, blocks));
  const uint64_t first = state_.offset;
  state_.offset += blocks;
  return first;
}

Tensor Generator::uniform(const Shape& shape, double lo, double hi, DType dtype) {
  TD_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi && std::isfinite(hi - lo), "uniform",
           fmt::format("expected finite bounds with lo <= hi and a finite hi - lo, got [{}, {})", lo, hi));
  return dispatch_floating(dtype, "uniform", [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(shape, dtype);
    const int64_t n = out.numel();
    T* p = out.data<T>();
    const T tlo = static_cast<T>(lo), thi = static_cast<T>(hi);
    // lo + (hi - lo) * u can round up to hi in T; step back to the largest value below hi.
    auto put = [&](int64_t i, double u) {
      T v = static_cast<T>(lo + (hi - lo) * u);
      if (v >= thi && thi > tlo) v = std::max(std::nextafter(thi, tlo), tlo);
      p[i] = v;
    };
    if constexpr (std::is_same_v<T, float>) {
      // float: four values a block, 24 bits each.
      const uint64_t first = take(static_cast<uint64_t>(blocks_for(n, 4)));
      for_blocks(state_.seed, first, n, 4, 8, [&](const Block& w, int64_t i0, int64_t cnt) {
        for (int64_t k = 0; k < cnt; ++k) put(i0 + k, unit24(w[k]));
      });
    } else {
      // double: two values a block, 53 bits each from a 64-bit pair of words.
      const uint64_t first = take(static_cast<uint64_t>(blocks_for(n, 2)));
      for_blocks(state_.seed, first, n, 2, 8, [&](const Block& w, int64_t i0, int64_t cnt) {
        for (int64_t k = 0; k < cnt; ++k) put(i0 + k, unit53(join64(w[2 * k], w[2 * k + 1])));
      });
    }
    return out;
  });
}

Tensor Generator::normal(const Shape& shape, double mean, double stddev, DType dtype) {
  TD_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0, "normal",
           fmt::format("expected a finite mean and stddev >= 0, got mean {} stddev {}", mean, stddev));
  return dispatch_floating(dtype, "normal", [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(shape, dtype);
    const int64_t n = out.numel();
    T* p = out.data<T>();
    constexpr double two_pi = 2.0 * std::numbers::pi;
    // Box-Muller: u1 in (0, 1], u2 in [0, 1) -> r = sqrt(-2 ln u1), (r cos 2 pi u2, r sin 2 pi u2).
    auto pair = [&](int64_t i, int64_t cnt, double u1, double u2) {
      const double r = std::sqrt(-2.0 * std::log(u1));
      const double a = two_pi * u2;
      p[i] = static_cast<T>(mean + stddev * r * std::cos(a));
      if (cnt > 1) p[i + 1] = static_cast<T>(mean + stddev * r * std::sin(a));
    };
    if constexpr (std::is_same_v<T, float>) {
      // float: two pairs a block, uniforms with 32-bit resolution (tails reach 6.66 sigma).
      const uint64_t first = take(static_cast<uint64_t>(blocks_for(n, 4)));
      for_blocks(state_.seed, first, n, 4, 60, [&](const Block& w, int64_t i0, int64_t cnt) {
        pair(i0, cnt, unit32_open0(w[0]), static_cast<double>(w[1]) * 0x1p-32);
        if (cnt > 2) pair(i0 + 2, cnt - 2, unit32_open0(w[2]), static_cast<double>(w[3]) * 0x1p-32);
      });
    } else {
      // double: one pair a block, uniforms with 53-bit resolution (tails reach 8.57 sigma).
      const uint64_t first = take(static_cast<uint64_t>(blocks_for(n, 2)));
      for_blocks(state_.seed, first, n, 2, 60, [&](const Block& w, int64_t i0, int64_t cnt) {
        pair(i0, cnt, unit53_open0(join64(w[0], w[1])), unit53(join64(w[2], w[3])));
      });
    }
    return out;
  });
}

Tensor Generator::randint(int64_t lo, int64_t hi, const Shape& shape) {
  TD_CHECK(lo < hi, "randint", fmt::format("expected lo < hi, got [{}, {})", lo, hi));
  Tensor out = Tensor::empty(shape, DType::I64);
  const int64_t n = out.numel();
  int64_t* p = out.data<int64_t>();
  const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  // Two values a block, each from 64 random bits by multiply-shift (see scale64).
  const uint64_t first = take(static_cast<uint64_t>(blocks_for(n, 2)));
  for_blocks(state_.seed, first, n, 2, 8, [&](const Block& w, int64_t i0, int64_t cnt) {
    for (int64_t k = 0; k < cnt; ++k) {
      const uint64_t r = scale64(join64(w[2 * k], w[2 * k + 1]), range);
      p[i0 + k] = static_cast<int64_t>(static_cast<uint64_t>(lo) + r);
    }
  });
  return out;
}

Tensor Generator::bernoulli(const Shape& shape, double p, DType dtype) {
  TD_CHECK(p >= 0.0 && p <= 1.0, "bernoulli", fmt::format("expected a probability in [0, 1], got {}", p));
  return dispatch_floating(dtype, "bernoulli", [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(shape, dtype);
    const int64_t n = out.numel();
    T* q = out.data<T>();
    // Four values a block: 1 when w / 2^32 < p (exact in double), so p = 0 never and p = 1 always fires.
    const uint64_t first = take(static_cast<uint64_t>(blocks_for(n, 4)));
    for_blocks(state_.seed, first, n, 4, 4, [&](const Block& w, int64_t i0, int64_t cnt) {
      for (int64_t k = 0; k < cnt; ++k) q[i0 + k] = static_cast<double>(w[k]) * 0x1p-32 < p ? T(1) : T(0);
    });
    return out;
  });
}

Tensor Generator::randperm(int64_t n) {
  TD_CHECK(n >= 0, "randperm", fmt::format("expected n >= 0, got {}", n));
  Tensor out = Tensor::empty({n}, DType::I64);
  int64_t* p = out.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  // Fisher-Yates (Durstenfeld): step k = 0, 1, ..., n-2 swaps position i = n-1-k with a uniform
  // j in [0, i]. Step k uses the k-th 64-bit word of the stream (two a block), like randint.
  const int64_t steps = n > 1 ? n - 1 : 0;
  const uint64_t first = take(static_cast<uint64_t>(blocks_for(steps, 2)));
  Block w{};
  for (int64_t k = 0; k < steps; ++k) {
    if (k % 2 == 0) w = block_words(state_.seed, first + static_cast<uint64_t>(k / 2));
    const int64_t lane = k % 2;
    const int64_t i = n - 1 - k;
    const auto j = static_cast<int64_t>(scale64(join64(w[2 * lane], w[2 * lane + 1]), static_cast<uint64_t>(i + 1)));
    std::swap(p[i], p[j]);
  }
  return out;
}

double Generator::uniform_double() {
  const Block w = block_words(state_.seed, take(1));
  return unit53(join64(w[0], w[1]));
}

int64_t Generator::randint_scalar(int64_t lo, int64_t hi) {
  TD_CHECK(lo < hi, "randint_scalar", fmt::format("expected lo < hi, got [{}, {})", lo, hi));
  const Block w = block_words(state_.seed, take(1));
  const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + scale64(join64(w[0], w[1]), range));
}

}  // namespace tinydiff
