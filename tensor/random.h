/// \file
/// \brief Seeded, counter-based random numbers (Philox 4x32-10) whose results do not depend on threads.
///
/// Philox (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
/// SC 2011) maps a 128-bit counter and a 64-bit key to four 32-bit random words through ten
/// rounds of multiply-and-xor. Block \f$b\f$ of a generator with seed \f$s\f$ is
/// `philox4x32({lo(b), hi(b), 0, 0}, {lo(s), hi(s)})`. A draw of \f$n\f$ values reserves the
/// next \f$\lceil n / k \rceil\f$ blocks (\f$k\f$ values per block, below) starting at the
/// generator's offset, and value \f$i\f$ comes from block \f$\mathrm{offset} + \lfloor i/k \rfloor\f$.
/// So the values come out the same whichever thread computes them (draws are filled with
/// `parallel_for`), and a generator's whole state is two integers, the seed and the offset,
/// which makes checkpoints and replays exact.
///
/// How the 32-bit words \f$w\f$ become values:
/// - `uniform`, float32: \f$u = \lfloor w / 2^8 \rfloor \, 2^{-24}\f$, four per block;
///   float64: the top 53 bits of two words, \f$u = \lfloor x / 2^{11} \rfloor \, 2^{-53}\f$,
///   two per block. So \f$u \in [0, 1)\f$ and 1.0 is never produced; then
///   \f$\mathrm{lo} + (\mathrm{hi} - \mathrm{lo})\,u\f$, stepped down below hi if rounding reaches it.
/// - `normal`: Box-Muller (Box and Muller, 1958) on a pair \f$u_1 \in (0, 1]\f$,
///   \f$u_2 \in [0, 1)\f$ from one block, giving two independent values
///   \f$\sqrt{-2 \ln u_1}\,\cos(2\pi u_2)\f$ and \f$\sqrt{-2 \ln u_1}\,\sin(2\pi u_2)\f$.
///   Because \f$u_1 > 0\f$, \f$\ln u_1\f$ is finite. Float32 uses 32-bit uniforms, two pairs
///   per block (tails up to 6.7 standard deviations); float64 uses 53-bit uniforms, one pair
///   per block (up to 8.6).
/// - `randint`: 64 random bits \f$x\f$ (two words, two values per block) map to
///   \f$\mathrm{lo} + \lfloor x \cdot r / 2^{64} \rfloor\f$ with \f$r = \mathrm{hi} - \mathrm{lo}\f$
///   (multiply-shift, Lemire 2019, without the rejection step). Each value's probability is off
///   by less than \f$r / 2^{64}\f$ relative, below \f$2^{-32}\f$ for ranges under \f$2^{32}\f$.
/// - `bernoulli`: 1 when \f$w / 2^{32} < p\f$, four per block.
/// - `randperm`: Fisher-Yates (Durstenfeld's version), step \f$k\f$ swapping position
///   \f$i = n - 1 - k\f$ with a uniform \f$j \in [0, i]\f$ drawn like `randint` from the
///   \f$k\f$-th 64-bit word of the stream; it runs serially.
///
/// The generator is not thread-safe: one generator per thread of control (the kernels inside
/// a draw parallelise on their own).
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
///
/// Round: \f$(h_0, l_0) = M_0 x_0\f$, \f$(h_1, l_1) = M_1 x_2\f$ (high and low halves of the
/// 64-bit products, \f$M_0\f$ = 0xD2511F53, \f$M_1\f$ = 0xCD9E8D57), then
/// \f$x \leftarrow (h_1 \oplus x_1 \oplus k_0,\ l_1,\ h_0 \oplus x_3 \oplus k_1,\ l_0)\f$.
/// The key gains (0x9E3779B9, 0xBB67AE85) between rounds. Checked against the Random123
/// known-answer vectors (see tools/philox_reference.py).
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

/// A seeded stream of random numbers; the state is (seed, offset).
class Generator {
 public:
  /// Everything needed to replay a stream exactly.
  struct State {
    uint64_t seed = 0;    ///< the Philox key
    uint64_t offset = 0;  ///< how many 128-bit blocks have been used
  };

  /// A stream at offset 0 of `seed`.
  explicit Generator(uint64_t seed = 0);

  /// Uniform in [lo, hi) (lo <= hi, both finite; lo == hi gives lo), float32 or float64.
  Tensor uniform(const Shape& shape, double lo = 0.0, double hi = 1.0, DType dtype = DType::F32);
  /// Normal with the given mean and standard deviation (stddev >= 0), float32 or float64.
  Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = DType::F32);
  /// Integers uniform in [lo, hi) (lo < hi), int64.
  Tensor randint(int64_t lo, int64_t hi, const Shape& shape);
  /// 1.0 with probability p (0 <= p <= 1), else 0.0; float32 or float64.
  Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::F32);
  /// A random permutation of 0..n-1 (int64), by Fisher-Yates on this stream.
  Tensor randperm(int64_t n);

  /// A uniform double in [0, 1), for set-up code; uses one block.
  double uniform_double();
  /// An integer uniform in [lo, hi), for set-up code; uses one block.
  int64_t randint_scalar(int64_t lo, int64_t hi);

  /// The current (seed, offset), to save with a checkpoint.
  State state() const { return state_; }
  /// Continues the stream from a saved state: the next draws repeat those made after state().
  void set_state(State s) { state_ = s; }

 private:
  /// Reserves `blocks` counter blocks and returns the first.
  uint64_t take(uint64_t blocks);
  State state_;
};

}  // namespace tinydiff
