// Closed-form optimal denoisers for data distributions whose posterior E[x0 | x_t] is known exactly.
// They let the sampler tests check DDPM / DDIM / guidance with no training: with the exact
// eps*(x_t, t) = E[eps | x_t] a correct sampler reproduces the data distribution (up to its
// discretisation error), and a wrong coefficient or off-by-one timestep shows up at once.
//
// Written as naive float64 loops over the batch, independent of the library's tensor maths;
// they read only alpha_bar[t] from the schedule.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "diffusion/process/objective.h"
#include "diffusion/process/schedule.h"
#include "tensor/tensor.h"

namespace tinydiff::testing {

/// Data = K points c_k (row-major K x D) with probabilities proportional to w_k.
/// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, so the posterior over k given x_t is
///   p_k ∝ w_k exp(-|x_t - sqrt(abar) c_k|^2 / (2 (1 - abar))),
/// E[x0 | x_t] = sum_k p_k c_k, and eps* = (x_t - sqrt(abar) E[x0 | x_t]) / sqrt(1 - abar).
struct PointMixture {
  std::vector<double> points;   // K * D
  std::vector<double> weights;  // K (need not sum to 1)
  int64_t dim = 2;

  int64_t count() const { return static_cast<int64_t>(weights.size()); }

  /// E[x0 | x_t] for one row x (D values) at alpha_bar abar.
  std::vector<double> posterior_mean(const double* x, double abar) const {
    const int64_t K = count(), D = dim;
    std::vector<double> logit(static_cast<size_t>(K));
    double m = -INFINITY;
    for (int64_t k = 0; k < K; ++k) {
      double d2 = 0.0;
      for (int64_t d = 0; d < D; ++d) {
        const double r = x[d] - std::sqrt(abar) * points[k * D + d];
        d2 += r * r;
      }
      logit[k] = std::log(weights[k]) - d2 / (2.0 * (1.0 - abar));
      m = std::max(m, logit[k]);
    }
    double z = 0.0;
    for (auto& l : logit) z += (l = std::exp(l - m));
    std::vector<double> mean(static_cast<size_t>(D), 0.0);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t d = 0; d < D; ++d) mean[d] += logit[k] / z * points[k * D + d];
    return mean;
  }
};

/// Data = N(mu, sigma^2 I): x_t ~ N(sqrt(abar) mu, (abar sigma^2 + 1 - abar) I) and
/// E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar sigma^2 + 1 - abar),
/// E[x0 | x_t] = mu + sqrt(abar) sigma^2 (x_t - sqrt(abar) mu) / (abar sigma^2 + 1 - abar).
struct Gaussian {
  std::vector<double> mu;
  double sigma = 1.0;

  std::vector<double> posterior_mean(const double* x, double abar) const {
    std::vector<double> mean(mu.size());
    const double denom = abar * sigma * sigma + 1.0 - abar;
    for (size_t d = 0; d < mu.size(); ++d)
      mean[d] = mu[d] + std::sqrt(abar) * sigma * sigma * (x[d] - std::sqrt(abar) * mu[d]) / denom;
    return mean;
  }
};

/// The optimal model output for `data` (anything with posterior_mean(x, abar)) under `prediction`:
/// x0* = E[x0 | x_t], eps* = (x_t - sqrt(abar) x0*) / sqrt(1 - abar), v* = sqrt(abar) eps* - sqrt(1 - abar) x0*.
/// x_t: (B, D) float32/float64; t: int64 (B). Returns (B, D) in x_t's dtype.
template <typename Data>
Tensor optimal_output(const Data& data, const Tensor& x_t, const Tensor& t, const NoiseSchedule& schedule,
                      Prediction prediction) {
  const int64_t B = x_t.size(0), D = x_t.size(1);
  const std::vector<double> x = x_t.to_vector();
  const std::vector<double> ts = t.to_vector();
  std::vector<double> out(x.size());
  for (int64_t b = 0; b < B; ++b) {
    const double abar = schedule.alpha_bar.at({static_cast<int64_t>(ts[b])});
    const double* xb = x.data() + b * D;
    const std::vector<double> x0 = data.posterior_mean(xb, abar);
    for (int64_t d = 0; d < D; ++d) {
      const double eps = (xb[d] - std::sqrt(abar) * x0[d]) / std::sqrt(1.0 - abar);
      double o = eps;
      if (prediction == Prediction::X0) o = x0[d];
      if (prediction == Prediction::V) o = std::sqrt(abar) * eps - std::sqrt(1.0 - abar) * x0[d];
      out[b * D + d] = o;
    }
  }
  return Tensor::from_vector(out, x_t.shape(), x_t.dtype());
}

/// Euclidean distance from each row of x (N, D) to the nearest of the K points, and the index of that point.
inline void nearest_points(const Tensor& x, const PointMixture& data, std::vector<double>& dist,
                           std::vector<int64_t>& index) {
  const int64_t N = x.size(0), D = x.size(1), K = data.count();
  const std::vector<double> v = x.to_vector();
  dist.assign(static_cast<size_t>(N), INFINITY);
  index.assign(static_cast<size_t>(N), -1);
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t k = 0; k < K; ++k) {
      double d2 = 0.0;
      for (int64_t d = 0; d < D; ++d) {
        const double r = v[i * D + d] - data.points[k * D + d];
        d2 += r * r;
      }
      if (std::sqrt(d2) < dist[i]) {
        dist[i] = std::sqrt(d2);
        index[i] = k;
      }
    }
  }
}

/// Pearson's chi-square statistic of observed counts against expected probabilities (normalised weights).
inline double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& weights) {
  double total_w = 0.0;
  int64_t n = 0;
  for (double w : weights) total_w += w;
  for (int64_t c : counts) n += c;
  double chi2 = 0.0;
  for (size_t k = 0; k < counts.size(); ++k) {
    const double e = static_cast<double>(n) * weights[k] / total_w;
    chi2 += (static_cast<double>(counts[k]) - e) * (static_cast<double>(counts[k]) - e) / e;
  }
  return chi2;
}

}  // namespace tinydiff::testing
