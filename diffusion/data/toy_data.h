/// \file
/// \brief 2-D toy data sets for diffusion experiments: two moons, a swiss roll, and a weighted point mixture.
///
/// Every generator draws from a `Generator` (so a seed fixes the data) and returns float tensors of
/// shape (n, 2) (the mixture: (n, D)). Moons and swiss roll are standardised with their *population*
/// mean and standard deviation (computed from the generating distribution, not from the sample), so
/// each coordinate has mean 0 and variance 1 in expectation, the scale a unit-variance diffusion expects.
///
/// - Two moons (as scikit-learn's `make_moons`): with \f$\theta \sim U[0, \pi]\f$, the upper moon is
///   \f$(\cos\theta, \sin\theta)\f$ and the lower \f$(1 - \cos\theta, \tfrac12 - \sin\theta)\f$, each with probability
///   1/2, plus \f$\mathcal{N}(0, \sigma^2 I)\f$ noise. Population mean (1/2, 1/4), variances \f$3/4 + \sigma^2\f$ and
///   \f$5/8 - 1/\pi - 1/16 + \sigma^2\f$.
/// - Swiss roll (scikit-learn's `make_swiss_roll`, the (x, z) plane): \f$u \sim U[1.5\pi, 4.5\pi]\f$,
///   point \f$(u\cos u,\ u\sin u)\f$ plus noise; standardised by the population moments (computed by quadrature).
/// - Mixture: K given points \f$c_k\f$ with probabilities \f$w_k\f$ and isotropic Gaussian spread \f$\sigma\f$ (0 gives
///   exactly the points, the data whose optimal denoiser is known in closed form).
///
/// Usage:
/// \code
///   Generator gen(0);
///   ToyData moons = make_moons(gen, 1000);                      // moons.x: (1000, 2), moons.labels: (1000) int64
///   Tensor roll = make_swiss_roll(gen, 1000);                   // (1000, 2)
///   Tensor centres = ring_points(8, 2.0);                       // (8, 2) on a circle of radius 2
///   ToyData mix = make_mixture(gen, centres, std::vector<double>(8, 1.0), 500, 0.05);
/// \endcode
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

/// Points with a class label each.
struct ToyData {
  Tensor x;       ///< (n, D) samples
  Tensor labels;  ///< (n) int64: the moon (0 upper, 1 lower) or the mixture component
};

/// n points of the two-moons distribution (see the file overview), standardised; `noise` is the std of
/// the added Gaussian noise before standardisation. Labels: 0 upper moon, 1 lower moon.
ToyData make_moons(Generator& gen, int64_t n, double noise = 0.05, DType dtype = DType::F32);

/// n points of the 2-D swiss roll (see the file overview), standardised; `noise` as in scikit-learn (std
/// of the added Gaussian noise before standardisation, in units where the roll's radius runs 4.7..14.1).
Tensor make_swiss_roll(Generator& gen, int64_t n, double noise = 0.5, DType dtype = DType::F32);

/// n samples of \f$\sum_k \tilde w_k\,\mathcal{N}(c_k, \sigma^2 I)\f$, \f$\tilde w_k = w_k / \sum_j w_j\f$.
/// Returns samples (n, D) in `dtype` and component labels (n) int64.
/// \param gen the random stream; \param centres (K, D) float tensor of component centres;
/// \param weights K non-negative weights (not all 0); \param n number of samples;
/// \param stddev \f$\sigma \ge 0\f$; \param dtype dtype of the samples.
ToyData make_mixture(Generator& gen, const Tensor& centres, const std::vector<double>& weights, int64_t n,
                     double stddev = 0.0, DType dtype = DType::F32);

/// K points evenly spaced on a circle of the given radius, starting at angle 0: (K, 2) float64.
Tensor ring_points(int64_t k, double radius = 1.0);

}  // namespace tinydiff
