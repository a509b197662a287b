/// \file
/// \brief Seeded, counter-based random numbers (Philox 4x32-10) whose results do not depend on threads.
///
/// Philox (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) maps a
/// 128-bit counter and a 64-bit key to four 32-bit random words through ten rounds of
/// multiply-and-xor. Because element i of a draw is a pure function of (seed, offset + i),
/// the values come out the same whichever thread computes them, and a generator's whole
/// state is two integers: the seed and the offset, which make checkpoints exact.
///
/// Normal values use the Box-Muller transform on pairs of uniforms.
///
/// Usage:
/// \code
///   Generator gen(42);
///   Tensor noise = gen.normal({B, C, H, W});          // N(0, 1), float32
///   Tensor t = gen.randint(0, 1000, {B});             // int64 in [0, 1000)
///   auto state = gen.state(); ...; gen.set_state(state);   // exact replay
/// \endcode
#pragma once

#include <array>
#include <cstdint>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// One Philox 4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

/// A seeded stream of random numbers; the state is (seed, offset).
class Generator {
 public:
  struct State {
    uint64_t seed = 0;
    uint64_t offset = 0;  ///< how many 128-bit blocks have been used
  };

  explicit Generator(uint64_t seed = 0);

  /// Uniform in [lo, hi).
  Tensor uniform(const Shape& shape, double lo = 0.0, double hi = 1.0, DType dtype = DType::F32);
  /// Normal with the given mean and standard deviation.
  Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = DType::F32);
  /// Integers uniform in [lo, hi), int64.
  Tensor randint(int64_t lo, int64_t hi, const Shape& shape);
  /// 1.0 with probability p, else 0.0.
  Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::F32);
  /// A random permutation of 0..n-1 (int64), by Fisher-Yates on this stream.
  Tensor randperm(int64_t n);

  /// Scalars, for set-up code.
  double uniform_double();
  int64_t randint_scalar(int64_t lo, int64_t hi);

  State state() const { return state_; }
  void set_state(State s) { state_ = s; }

 private:
  /// Reserves `blocks` counter blocks and returns the first.
  uint64_t take(uint64_t blocks);
  State state_;
};

}  // namespace tinydiff
