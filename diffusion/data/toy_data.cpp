// 2-D toy data sets: two moons, swiss roll, point mixtures (see toy_data.h for the distributions).
#include "diffusion/data/toy_data.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <numbers>

namespace tinydiff {

namespace {

constexpr double kPi = std::numbers::pi;

void check_count(int64_t n, const char* op) { TD_CHECK(n >= 1, op, fmt::format("n must be >= 1, got {}", n)); }
void check_noise(double noise, const char* op) {
  TD_CHECK(noise >= 0.0, op, fmt::format("noise must be >= 0, got {}", noise));
}

/// Population mean and variance of each coordinate of (u cos u, u sin u), u ~ U[a, b], by composite
/// Simpson quadrature (the integrands are smooth; 20000 intervals give ~1e-12 relative accuracy).
struct Moments {
  std::array<double, 2> mean, var;
};
Moments swiss_roll_moments(double a, double b) {
  const int n = 20000;  // even
  const double h = (b - a) / n;
  std::array<double, 2> m1{0, 0}, m2{0, 0};
  for (int i = 0; i <= n; ++i) {
    const double u = a + h * i;
    const double w = (i == 0 || i == n) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0);
    const double x = u * std::cos(u), y = u * std::sin(u);
    m1[0] += w * x;
    m1[1] += w * y;
    m2[0] += w * x * x;
    m2[1] += w * y * y;
  }
  Moments m;
  for (int k = 0; k < 2; ++k) {
    const double e1 = m1[k] * h / 3.0 / (b - a), e2 = m2[k] * h / 3.0 / (b - a);
    m.mean[k] = e1;
    m.var[k] = e2 - e1 * e1;
  }
  return m;
}

}  // namespace

ToyData make_moons(Generator& gen, int64_t n, double noise, DType dtype) {
  check_count(n, "make_moons");
  check_noise(noise, "make_moons");
  const std::vector<double> theta = gen.uniform({n}, 0.0, kPi, DType::F64).to_vector();
  const std::vector<double> side = gen.uniform({n}, 0.0, 1.0, DType::F64).to_vector();
  const std::vector<double> eps = gen.normal({n, 2}, 0.0, 1.0, DType::F64).to_vector();
  // Population moments of the noisy moons (see toy_data.h): E = (1/2, 1/4),
  // Var x = 3/4 + noise^2, Var y = 5/8 - 1/pi - 1/16 + noise^2.
  const double mx = 0.5, my = 0.25;
  const double sx = std::sqrt(0.75 + noise * noise);
  const double sy = std::sqrt(0.625 - 1.0 / kPi - 0.0625 + noise * noise);
  std::vector<double> xy(static_cast<size_t>(2 * n));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const bool lower = side[i] >= 0.5;
    const double c = std::cos(theta[i]), s = std::sin(theta[i]);
    const double x = lower ? 1.0 - c : c;
    const double y = lower ? 0.5 - s : s;
    xy[2 * i] = (x + noise * eps[2 * i] - mx) / sx;
    xy[2 * i + 1] = (y + noise * eps[2 * i + 1] - my) / sy;
    labels[i] = lower ? 1 : 0;
  }
  return {Tensor::from_vector(xy, {n, 2}, dtype), Tensor::from_indices(labels, {n})};
}

Tensor make_swiss_roll(Generator& gen, int64_t n, double noise, DType dtype) {
  check_count(n, "make_swiss_roll");
  check_noise(noise, "make_swiss_roll");
  const double a = 1.5 * kPi, b = 4.5 * kPi;
  static const Moments m = swiss_roll_moments(a, b);
  const std::vector<double> u = gen.uniform({n}, a, b, DType::F64).to_vector();
  const std::vector<double> eps = gen.normal({n, 2}, 0.0, 1.0, DType::F64).to_vector();
  const double sx = std::sqrt(m.var[0] + noise * noise), sy = std::sqrt(m.var[1] + noise * noise);
  std::vector<double> xy(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    xy[2 * i] = (u[i] * std::cos(u[i]) + noise * eps[2 * i] - m.mean[0]) / sx;
    xy[2 * i + 1] = (u[i] * std::sin(u[i]) + noise * eps[2 * i + 1] - m.mean[1]) / sy;
  }
  return Tensor::from_vector(xy, {n, 2}, dtype);
}

ToyData make_mixture(Generator& gen, const Tensor& centres, const std::vector<double>& weights, int64_t n,
                     double stddev, DType dtype) {
  check_count(n, "make_mixture");
  check_defined(centres, "make_mixture");
  TD_CHECK(centres.dim() == 2 && centres.size(0) >= 1, "make_mixture",
           fmt::format("centres must be (K, D) with K >= 1, got {}", shape_str(centres.shape())));
  const int64_t K = centres.size(0), D = centres.size(1);
  TD_CHECK(static_cast<int64_t>(weights.size()) == K, "make_mixture",
           fmt::format("got {} weights for {} centres {}; expected one weight per centre", weights.size(), K,
                       shape_str(centres.shape())));
  TD_CHECK(stddev >= 0.0, "make_mixture", fmt::format("stddev must be >= 0, got {}", stddev));
  double total = 0.0;
  for (double w : weights) {
    TD_CHECK(w >= 0.0 && std::isfinite(w), "make_mixture", fmt::format("weights must be finite and >= 0, got {}", w));
    total += w;
  }
  TD_CHECK(total > 0.0, "make_mixture", "the weights sum to 0; expected at least one positive weight");
  std::vector<double> cdf(static_cast<size_t>(K));
  double acc = 0.0;
  for (int64_t k = 0; k < K; ++k) cdf[k] = (acc += weights[k] / total);

  const std::vector<double> c = centres.to_vector();  // (K, D) row-major
  const std::vector<double> pick = gen.uniform({n}, 0.0, 1.0, DType::F64).to_vector();
  std::vector<double> eps;
  if (stddev > 0.0) eps = gen.normal({n, D}, 0.0, 1.0, DType::F64).to_vector();
  std::vector<double> x(static_cast<size_t>(n * D));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = 0;
    while (k < K - 1 && pick[i] >= cdf[k]) ++k;  // first k with u < cdf[k]; zero-weight components never win
    labels[i] = k;
    for (int64_t d = 0; d < D; ++d) x[i * D + d] = c[k * D + d] + (stddev > 0.0 ? stddev * eps[i * D + d] : 0.0);
  }
  return {Tensor::from_vector(x, {n, D}, dtype), Tensor::from_indices(labels, {n})};
}

Tensor ring_points(int64_t k, double radius) {
  TD_CHECK(k >= 1, "ring_points", fmt::format("k must be >= 1, got {}", k));
  std::vector<double> p(static_cast<size_t>(2 * k));
  for (int64_t i = 0; i < k; ++i) {
    const double a = 2.0 * kPi * static_cast<double>(i) / static_cast<double>(k);
    p[2 * i] = radius * std::cos(a);
    p[2 * i + 1] = radius * std::sin(a);
  }
  return Tensor::from_vector(p, {k, 2}, DType::F64);
}

}  // namespace tinydiff
