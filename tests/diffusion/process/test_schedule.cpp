// Tests of the noise schedules: values against an independent Python computation of the papers'
// formulas, monotonicity, the posterior identities of DDPM eqs. 6-7, and error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "diffusion/process/schedule.h"

using namespace tinydiff;

namespace {

// Reference values printed by tools/schedule_reference.py (pure-Python float64, math module only):
//
//     /usr/bin/python3 tools/schedule_reference.py
//
// It evaluates, at 0-based indices 0, 1, 499, 999 of T = 1000 steps:
//   linear:        beta_i = 1e-4 + (0.02 - 1e-4) i / (T - 1)                         (Ho et al. 2020)
//   cosine:        beta_i = min(1 - f((i+1)/T) / f(i/T), 0.999),
//                  f(u) = cos((u + 0.008) / 1.008 * pi / 2)^2                        (Nichol & Dhariwal 2021)
//   scaled_linear: beta_i = (sqrt(0.00085) + (sqrt(0.012) - sqrt(0.00085)) i / (T - 1))^2   (Stable Diffusion)
//   sigmoid:       beta_i = 1e-4 + (0.02 - 1e-4) sigmoid(-6 + 12 i / (T - 1))         (GeoDiff)
// and then alpha_bar = cumprod(1 - beta), alpha_bar_prev (1 at index 0), beta-tilde, its clipped log,
// the posterior mean coefficients and SNR, as in DDPM eqs. 4-7.
using Table = std::map<std::string, std::vector<double>>;

const std::map<std::string, Table> kReference = {
    {"linear",
     {
         {"betas", {0.0001, 0.00011991991991991993, 0.010040040040040041, 0.02}},
         {"alpha_bar", {0.99990000000000001, 0.99978009207207208, 0.078587242881778208, 4.0358297653756754e-05}},
         {"alpha_bar_prev", {1, 0.99990000000000001, 0.079384264071606245, 4.1181936381384443e-05}},
         {"posterior_variance", {0, 5.4531876613021935e-05, 0.010031355414613689, 0.01999998352656061}},
         {"posterior_log_variance_clipped",
          {-9.8167251352956697, -9.8167251352956697, -4.6020395500851379, -3.912023829100455}},
         {"posterior_mean_coef1",
          {1.0000000000001101, 0.54529149951029032, 0.0030700711142649766, 0.00012835148717224682}},
         {"posterior_mean_coef2", {0, 0.45470849899053029, 0.99410667021016663, 0.98994867826751731}},
         {"snr", {9999.0000000011005, 4546.3576574636818, 0.085289944462636824, 4.0359926511684198e-05}},
     }},
    {"cosine",
     {
         {"betas", {4.128422482196914e-05, 4.6141752736650332e-05, 0.0031458862304780677, 0.999}},
         {"alpha_bar", {0.99995871577517803, 0.99991257592736782, 0.49384359044063819, 2.4287669070348567e-09}},
         {"alpha_bar_prev", {1, 0.99995871577517803, 0.49540206898801792, 2.4287669070348544e-06}},
         {"posterior_variance", {0, 2.1789496145691819e-05, 0.0031361999040578109, 0.99899757608819206}},
         {"posterior_log_variance_clipped",
          {-10.734082532465003, -10.734082532465003, -5.7647434336092029, -0.0010029266746731796}},
         {"posterior_mean_coef1", {1, 0.52778140933448714, 0.0043745882261455402, 0.0015568917154901703}},
         {"posterior_mean_coef2", {0, 0.47221859042675934, 0.99535161947217154, 0.031622699874134651}},
         {"snr", {24221.327155525429, 11437.497085434357, 0.97567388481864203, 2.4287669129337654e-09}},
     }},
    {"scaled_linear",
     {
         {"betas", {0.00084999999999999995, 0.00085469865540568619, 0.0048037929805507199, 0.012}},
         {"alpha_bar", {0.99914999999999998, 0.99829602783845139, 0.27766965045646763, 0.004660098513077234}},
         {"alpha_bar_prev", {1, 0.99914999999999998, 0.27900995652713645, 0.0047166988998757426}},
         {"posterior_variance", {0, 0.00042635312564883403, 0.0047948793956540904, 0.01199931761537886}},
         {"posterior_log_variance_clipped",
          {-7.7602426216225231, -7.7602426216225231, -5.3402067230685626, -4.4229054961961287}},
         {"posterior_mean_coef1",
          {0.99999999999997946, 0.50137869064592311, 0.0035128392069690398, 0.00082799727602098593}},
         {"posterior_mean_coef2", {0, 0.49862121846488955, 0.99574414355956331, 0.99392536802011466}},
         {"snr", {1175.47058823527, 585.86404776189465, 0.38440811829647958, 0.0046819167061579519}},
     }},
    {"sigmoid",
     {
         {"betas", {0.00014920520081703202, 0.00014979833041933025, 0.010020120209938985, 0.019950794799182971}},
         {"alpha_bar", {0.99985079479918293, 0.99970101881945361, 0.30193105660219516, 3.9681819905332187e-05}},
         {"alpha_bar_prev", {1, 0.99985079479918293, 0.30498706364236799, 4.0489620005560006e-05}},
         {"posterior_variance", {0, 7.4756176731365776e-05, 0.0099762541159169483, 0.019950778682289384}},
         {"posterior_log_variance_clipped",
          {-9.5012787172495656, -9.5012787172495656, -4.6075475982025882, -3.914487104714278}},
         {"posterior_mean_coef1",
          {0.99999999999974021, 0.50099191656050923, 0.0079271180201956944, 0.00012695484693040103}},
         {"posterior_mean_coef2", {0, 0.49900808064537616, 0.99062151336195081, 0.98997354599551335}},
         {"snr", {6701.179243912713, 3343.6921246765542, 0.43252326214738263, 3.9683394614650519e-05}},
     }},
};

const Tensor& field(const NoiseSchedule& s, const std::string& key) {
  if (key == "betas") return s.betas;
  if (key == "alpha_bar") return s.alpha_bar;
  if (key == "alpha_bar_prev") return s.alpha_bar_prev;
  if (key == "posterior_variance") return s.posterior_variance;
  if (key == "posterior_log_variance_clipped") return s.posterior_log_variance_clipped;
  if (key == "posterior_mean_coef1") return s.posterior_mean_coef1;
  if (key == "posterior_mean_coef2") return s.posterior_mean_coef2;
  if (key == "snr") return s.snr;
  throw std::runtime_error("unknown field " + key);
}

}  // namespace

TEST_CASE("schedule values match the papers' formulas computed independently in Python", "[diffusion][schedule]") {
  const std::vector<int64_t> indices = {0, 1, 499, 999};
  for (const auto& [name, table] : kReference) {
    const NoiseSchedule s = make_schedule(name);
    CHECK(s.num_timesteps == 1000);
    CHECK(s.name == name);
    for (const auto& [key, values] : table) {
      const Tensor& f = field(s, key);
      REQUIRE(f.dtype() == DType::F64);
      REQUIRE(f.shape() == Shape{1000});
      for (size_t j = 0; j < indices.size(); ++j) {
        INFO(name << "." << key << "[" << indices[j] << "]");
        // Both sides evaluate the same float64 formulas (cumprod over up to 1000 factors), so they agree
        // to a few ulps: relative 1e-12, and absolute 1e-15 for the exact zeros at index 0.
        CHECK(f.at({indices[j]}) == Approx(values[j]).epsilon(1e-12).margin(1e-15));
      }
    }
  }
}

TEST_CASE("alpha_bar is strictly decreasing and the derived tensors are consistent", "[diffusion][schedule]") {
  for (const std::string& name : schedule_names()) {
    INFO(name);
    const NoiseSchedule s = make_schedule(name);
    const int64_t T = s.num_timesteps;
    for (int64_t t = 0; t < T; ++t) {
      const double beta = s.betas.at({t}), alpha = s.alphas.at({t});
      const double abar = s.alpha_bar.at({t}), abar_prev = s.alpha_bar_prev.at({t});
      REQUIRE(beta > 0.0);
      REQUIRE(beta < 1.0);
      REQUIRE(alpha == 1.0 - beta);
      REQUIRE(abar < abar_prev);  // strictly decreasing
      if (t > 0) REQUIRE(abar_prev == s.alpha_bar.at({t - 1}));
      REQUIRE(abar == Approx(abar_prev * alpha).epsilon(1e-14));
      REQUIRE(s.sqrt_alpha_bar.at({t}) == Approx(std::sqrt(abar)).epsilon(1e-14));
      REQUIRE(s.sqrt_one_minus_alpha_bar.at({t}) == Approx(std::sqrt(1.0 - abar)).epsilon(1e-14));
      REQUIRE(s.snr.at({t}) == Approx(abar / (1.0 - abar)).epsilon(1e-14));
    }
    CHECK(s.alpha_bar_prev.at({0}) == 1.0);
  }
}

TEST_CASE("posterior variance and mean satisfy the Gaussian-product identities", "[diffusion][schedule]") {
  // q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0) is a product of two Gaussians in x_{t-1}:
  //   N(x_t; sqrt(alpha_t) x_{t-1}, beta_t)  and  N(x_{t-1}; sqrt(abar_{t-1}) x_0, 1 - abar_{t-1}).
  // Its precision is the sum of precisions, and its mean the precision-weighted combination:
  //   1 / beta_tilde = alpha_t / beta_t + 1 / (1 - abar_{t-1})
  //   mu_tilde = beta_tilde (sqrt(alpha_t) / beta_t x_t + sqrt(abar_{t-1}) / (1 - abar_{t-1}) x_0)
  // — a derivation independent of the closed forms (DDPM eq. 7) the library uses. Checked for t >= 1
  // (at t = 0, abar_{t-1} = 1 and the posterior is the point x_0: beta_tilde = 0, coef1 = 1, coef2 = 0).
  for (const std::string& name : schedule_names()) {
    INFO(name);
    const NoiseSchedule s = make_schedule(name, {.num_timesteps = 300});
    for (int64_t t = 1; t < s.num_timesteps; ++t) {
      const double beta = s.betas.at({t}), alpha = s.alphas.at({t}), abar_prev = s.alpha_bar_prev.at({t});
      const double bt = s.posterior_variance.at({t});
      REQUIRE(1.0 / bt == Approx(alpha / beta + 1.0 / (1.0 - abar_prev)).epsilon(1e-10));
      REQUIRE(s.posterior_mean_coef2.at({t}) == Approx(bt * std::sqrt(alpha) / beta).epsilon(1e-10));
      REQUIRE(s.posterior_mean_coef1.at({t}) == Approx(bt * std::sqrt(abar_prev) / (1.0 - abar_prev)).epsilon(1e-10));
      REQUIRE(s.posterior_log_variance_clipped.at({t}) == Approx(std::log(bt)).epsilon(1e-14));
    }
    CHECK(s.posterior_variance.at({0}) == 0.0);
    CHECK(s.posterior_log_variance_clipped.at({0}) == s.posterior_log_variance_clipped.at({1}));
    CHECK(s.posterior_mean_coef1.at({0}) == Approx(1.0).epsilon(1e-10));
    CHECK(s.posterior_mean_coef2.at({0}) == 0.0);
  }
}

TEST_CASE("schedule options: T, custom beta range, from_betas", "[diffusion][schedule]") {
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 10, .beta_start = 0.001, .beta_end = 0.1});
  CHECK(s.num_timesteps == 10);
  CHECK(s.betas.at({0}) == Approx(0.001).epsilon(1e-15));
  CHECK(s.betas.at({9}) == Approx(0.1).epsilon(1e-15));
  CHECK(s.betas.at({3}) == Approx(0.001 + 0.099 * 3.0 / 9.0).epsilon(1e-14));
  // The cosine schedule ignores beta_start/end; its alpha_bar follows f(u)/f(0) until the 0.999 clip.
  const NoiseSchedule c = make_schedule("cosine", {.num_timesteps = 50});
  auto f = [](double u) { return std::pow(std::cos((u + 0.008) / 1.008 * M_PI / 2.0), 2.0); };
  for (int64_t t = 0; t < 48; ++t) CHECK(c.alpha_bar.at({t}) == Approx(f((t + 1) / 50.0) / f(0.0)).epsilon(1e-12));
  CHECK(c.betas.at({49}) == 0.999);

  const NoiseSchedule custom = NoiseSchedule::from_betas({0.1, 0.2, 0.5});
  CHECK(custom.name == "custom");
  CHECK(custom.alpha_bar.to_vector()[2] == Approx(0.9 * 0.8 * 0.5).epsilon(1e-15));
  CHECK(custom.value(custom.betas, 1) == 0.2);
}

TEST_CASE("schedule errors list the valid choices", "[diffusion][schedule][errors]") {
  CHECK_THROWS_WITH(make_schedule("quadratic"),
                    Catch::Contains("unknown schedule 'quadratic'; expected one of: linear, cosine, scaled_linear, "
                                    "sigmoid"));
  CHECK_THROWS_WITH(make_schedule("linear", {.num_timesteps = 1}), Catch::Contains("num_timesteps must be >= 2"));
  CHECK_THROWS_WITH(NoiseSchedule::from_betas({0.1, 1.0}), Catch::Contains("beta[1] = 1 lies outside (0, 1)"));
  CHECK_THROWS_WITH(NoiseSchedule::from_betas({0.0, 0.1}), Catch::Contains("beta[0] = 0 lies outside (0, 1)"));
  CHECK_THROWS_WITH(make_schedule("linear", {.num_timesteps = 10, .beta_end = 1.5}),
                    Catch::Contains("lies outside (0, 1)"));
  const NoiseSchedule s = make_schedule("linear", {.num_timesteps = 10});
  CHECK_THROWS_WITH(s.value(s.betas, 10), Catch::Contains("timestep 10 is out of range; expected 0 <= t <= 9"));
  CHECK_THROWS_WITH(s.value(s.betas, -1), Catch::Contains("timestep -1 is out of range"));
}
