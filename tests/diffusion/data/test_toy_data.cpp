// Tests of the 2-D toy data sets: geometry, standardisation (population moments), labels,
// mixture frequencies, determinism and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffusion/data/toy_data.h"

using namespace tinydiff;

namespace {

struct Moments {
  double mean[2] = {0, 0}, var[2] = {0, 0};
};
Moments moments(const Tensor& x) {
  const int64_t N = x.size(0);
  const std::vector<double> v = x.to_vector();
  Moments m;
  for (int64_t i = 0; i < N; ++i)
    for (int d = 0; d < 2; ++d) m.mean[d] += v[2 * i + d] / N;
  for (int64_t i = 0; i < N; ++i)
    for (int d = 0; d < 2; ++d) m.var[d] += std::pow(v[2 * i + d] - m.mean[d], 2) / N;
  return m;
}

}  // namespace

TEST_CASE("two moons: points on the two arcs, balanced labels, unit variance", "[diffusion][toy]") {
  Generator gen(1);
  const int64_t N = 50000;
  // noise = 0: undo the documented standardisation and check each point lies on its arc exactly.
  const ToyData clean = make_moons(gen, N, 0.0, DType::F64);
  REQUIRE(clean.x.shape() == Shape{N, 2});
  REQUIRE(clean.labels.shape() == Shape{N});
  const double sx = std::sqrt(0.75), sy = std::sqrt(0.625 - 1.0 / M_PI - 0.0625);
  int64_t lower = 0;
  for (int64_t i = 0; i < N; i += 97) {
    const double x = clean.x.at({i, 0}) * sx + 0.5, y = clean.x.at({i, 1}) * sy + 0.25;
    if (clean.labels.at({i}) == 0) {  // upper arc: unit circle around (0, 0), y >= 0
      REQUIRE(std::hypot(x, y) == Approx(1.0).margin(1e-12));
      REQUIRE(y >= -1e-12);
    } else {  // lower arc: unit circle around (1, 0.5), y <= 0.5
      REQUIRE(std::hypot(x - 1.0, y - 0.5) == Approx(1.0).margin(1e-12));
      REQUIRE(y <= 0.5 + 1e-12);
    }
  }
  for (double l : clean.labels.to_vector()) lower += l == 1.0;
  // Binomial standard error sqrt(0.25 / N) = 0.0022; tolerance 5 standard errors.
  CHECK(static_cast<double>(lower) / N == Approx(0.5).margin(0.011));
  // Standardised with the population moments: sample mean within 5 standard errors (1 / sqrt(N) = 0.0045)
  // of 0, variance within 0.03 of 1 (5 standard errors of a bounded variable's variance, < 0.006 each).
  for (double noise : {0.0, 0.1}) {
    const Moments m = moments(make_moons(gen, N, noise).x);
    for (int d = 0; d < 2; ++d) {
      CHECK(m.mean[d] == Approx(0.0).margin(0.023));
      CHECK(m.var[d] == Approx(1.0).margin(0.03));
    }
  }
}

TEST_CASE("swiss roll is standardised to mean 0 and variance 1", "[diffusion][toy]") {
  Generator gen(2);
  const int64_t N = 50000;
  for (double noise : {0.0, 0.5}) {
    INFO("noise " << noise);
    const Tensor x = make_swiss_roll(gen, N, noise);
    REQUIRE(x.shape() == Shape{N, 2});
    REQUIRE(x.dtype() == DType::F32);
    const Moments m = moments(x);
    for (int d = 0; d < 2; ++d) {
      CHECK(m.mean[d] == Approx(0.0).margin(0.023));
      CHECK(m.var[d] == Approx(1.0).margin(0.03));
    }
  }
  // The clean roll is exactly (u cos u, u sin u), u ~ U[1.5 pi, 4.5 pi], standardised by the population
  // moments. Those have closed forms (integration by parts), independent of the library's quadrature:
  //   E[u cos u] = [cos u + u sin u]_a^b / (b - a) = 2,   E[u sin u] = [sin u - u cos u]_a^b / (b - a) = 2 / (3 pi),
  //   E[(u cos u)^2] = ((b^3 - a^3) / 6 - 3 pi / 4) / (b - a),   E[(u sin u)^2] = ((b^3 - a^3) / 6 + 3 pi / 4) / (b -
  //   a).
  // make_swiss_roll draws u first (one uniform per point), so a generator with the same seed reproduces u.
  const double a = 1.5 * M_PI, b = 4.5 * M_PI;
  const double mx = 2.0, my = 2.0 / (3.0 * M_PI);
  const double vx = ((b * b * b - a * a * a) / 6.0 - 0.75 * M_PI) / (b - a) - mx * mx;
  const double vy = ((b * b * b - a * a * a) / 6.0 + 0.75 * M_PI) / (b - a) - my * my;
  Generator g1(17), g2(17);
  const Tensor clean = make_swiss_roll(g1, 500, 0.0, DType::F64);
  const std::vector<double> u = g2.uniform({500}, a, b, DType::F64).to_vector();
  for (int64_t i = 0; i < 500; ++i) {
    // Simpson quadrature with 20000 intervals is accurate to ~1e-10 here; tolerance 1e-8.
    REQUIRE(clean.at({i, 0}) == Approx((u[i] * std::cos(u[i]) - mx) / std::sqrt(vx)).margin(1e-8));
    REQUIRE(clean.at({i, 1}) == Approx((u[i] * std::sin(u[i]) - my) / std::sqrt(vy)).margin(1e-8));
  }
}

TEST_CASE("mixtures sample the weighted points, with optional spread", "[diffusion][toy]") {
  Generator gen(3);
  const Tensor centres = Tensor::from_vector({-2, 0, 1.5, 1.5, 1, -2, 5, 5}, {4, 2}, DType::F64);
  const std::vector<double> w = {5, 3, 2, 0};  // the last point has weight 0 and must never appear
  const int64_t N = 20000;
  const ToyData d = make_mixture(gen, centres, w, N);
  std::vector<int64_t> counts(4, 0);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t k = static_cast<int64_t>(d.labels.at({i}));
    ++counts[k];
    REQUIRE(d.x.at({i, 0}) == static_cast<float>(centres.at({k, 0})));
    REQUIRE(d.x.at({i, 1}) == static_cast<float>(centres.at({k, 1})));
  }
  CHECK(counts[3] == 0);
  double chi2 = 0;
  for (int k = 0; k < 3; ++k) chi2 += std::pow(counts[k] - N * w[k] / 10.0, 2) / (N * w[k] / 10.0);
  CHECK(chi2 < 13.816);  // chi-square, 2 degrees of freedom, p = 0.001

  // With stddev 0.3 the spread around each centre has variance 0.09 per axis (5 standard errors: 0.0045).
  const ToyData s = make_mixture(gen, centres.slice(0, 0, 1), {1.0}, N, 0.3);
  const Moments m = moments(s.x);
  CHECK(m.mean[0] == Approx(-2.0).margin(0.011));
  CHECK(m.var[0] == Approx(0.09).margin(0.0045));
  CHECK(m.var[1] == Approx(0.09).margin(0.0045));

  const Tensor ring = ring_points(4, 2.0);
  CHECK(ring.shape() == Shape{4, 2});
  CHECK(ring.at({1, 0}) == Approx(0.0).margin(1e-15));
  CHECK(ring.at({1, 1}) == Approx(2.0));
  CHECK(ring.at({2, 0}) == Approx(-2.0));
}

TEST_CASE("toy data is deterministic given the seed, and bad inputs are rejected", "[diffusion][toy][errors]") {
  Generator a(9), b(9);
  CHECK(max_abs_diff(make_moons(a, 100).x, make_moons(b, 100).x) == 0.0);
  CHECK(max_abs_diff(make_swiss_roll(a, 100), make_swiss_roll(b, 100)) == 0.0);
  Generator gen(0);
  const Tensor c = ring_points(3);
  CHECK_THROWS_WITH(make_mixture(gen, c, {1.0, 2.0}, 10),
                    Catch::Contains("make_mixture: got 2 weights for 3 centres (3, 2)"));
  CHECK_THROWS_WITH(make_mixture(gen, c, {1.0, -1.0, 1.0}, 10), Catch::Contains("weights must be finite and >= 0"));
  CHECK_THROWS_WITH(make_mixture(gen, c, {0.0, 0.0, 0.0}, 10), Catch::Contains("the weights sum to 0"));
  CHECK_THROWS_WITH(make_mixture(gen, c.reshape({-1}), {1.0}, 10), Catch::Contains("centres must be (K, D)"));
  CHECK_THROWS_WITH(make_moons(gen, 0), Catch::Contains("make_moons: n must be >= 1"));
  CHECK_THROWS_WITH(make_swiss_roll(gen, 10, -1.0), Catch::Contains("noise must be >= 0"));
}
