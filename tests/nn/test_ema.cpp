// EMA: warm-up decay values, hand-computed averages, swapping weights in and out, state export.
#include <catch2/catch.hpp>
#include <stdexcept>

#include "nn/ema.h"

using namespace tinydiff;

TEST_CASE("EMA warm-up decay is min(decay, (1 + n) / (10 + n))", "[ema]") {
  Variable p(Tensor::zeros({1}), true);
  EMA ema({{"p", p}}, {.decay = 0.999});
  CHECK(ema.current_decay() == Approx(0.1).epsilon(1e-15));  // n = 0: 1/10
  ema.update();
  CHECK(ema.current_decay() == Approx(2.0 / 11.0).epsilon(1e-15));
  ema.update();
  CHECK(ema.current_decay() == Approx(0.25).epsilon(1e-15));  // 3/12
  ema.set_num_updates(8989);
  CHECK(ema.current_decay() == Approx(8990.0 / 8999.0).epsilon(1e-15));  // 0.9989999 < 0.999: still warming up
  ema.set_num_updates(100000);
  CHECK(ema.current_decay() == 0.999);  // capped
  EMA flat({{"p", p}}, {.decay = 0.9, .warmup = false});
  CHECK(flat.current_decay() == 0.9);
  CHECK_THROWS_WITH(EMA({{"p", p}}, {.decay = 1.5}), Catch::Contains("decay must be in [0, 1]"));
}

TEST_CASE("EMA update matches hand-computed averages", "[ema]") {
  // Shadow starts at the parameter, 1. Then the parameter moves to 2, 3, 4 with decays
  // 0.1, 2/11, 0.25 (warm-up):  s = 1 + 0.9 (2 - 1) = 1.9;  s = 1.9 + (9/11)(3 - 1.9) = 2.8;
  // s = 2.8 + 0.75 (4 - 2.8) = 3.7.  A float64 parameter: tolerance 1e-14.
  Variable p(Tensor::from_vector({1.0, -1.0}, {2}, DType::F64), true);
  EMA ema({{"p", p}}, {.decay = 0.9999});
  const double expected[3] = {1.9, 2.8, 3.7};
  for (int t = 0; t < 3; ++t) {
    p.mutable_value().copy_(Tensor::from_vector({2.0 + t, -2.0 - t}, {2}, DType::F64));
    ema.update();
    const NamedTensors s = ema.state_tensors();
    REQUIRE(s.size() == 1);
    CHECK(s[0].first == "p");
    CHECK(s[0].second.at({0}) == Approx(expected[t]).epsilon(1e-14));
    CHECK(s[0].second.at({1}) == Approx(-expected[t]).epsilon(1e-14));
  }
  CHECK(ema.num_updates() == 3);
  CHECK(p.value().at({0}) == 4.0);  // the live parameter is untouched

  // Without warm-up and decay 0.5 on a large float32 parameter (parallel loop): s = (s + p) / 2.
  const int64_t n = 50000;
  Variable q(Tensor::zeros({n}), true);
  EMA half({{"q", q}}, {.decay = 0.5, .warmup = false});
  q.mutable_value().fill_(1.0);
  half.update();
  half.update();
  const auto v = half.state_tensors()[0].second.to_vector();
  CHECK(v.front() == 0.75);
  CHECK(v.back() == 0.75);
}

TEST_CASE("EMA swap and EMASwapGuard exchange and restore weights", "[ema]") {
  Variable w(Tensor::from_vector({1, 2, 3}, {3}), true);
  EMA ema({{"w", w}}, {.decay = 0.5, .warmup = false});
  w.mutable_value().copy_(Tensor::from_vector({3, 4, 5}, {3}));
  ema.update();  // shadow = (1+3)/2, (2+4)/2, (3+5)/2 = 2, 3, 4
  {
    EMASwapGuard guard(ema);
    CHECK(w.value().to_vector() == std::vector<double>{2, 3, 4});
    CHECK(ema.swapped());
    CHECK(ema.state_tensors()[0].second.to_vector() == std::vector<double>{2, 3, 4});  // still the EMA weights
    CHECK_THROWS_WITH(ema.update(), Catch::Contains("swap back before updating"));
  }
  CHECK(!ema.swapped());
  CHECK(w.value().to_vector() == std::vector<double>{3, 4, 5});
  // Restored on an exception too.
  try {
    EMASwapGuard guard(ema);
    throw std::runtime_error("sampling failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(w.value().to_vector() == std::vector<double>{3, 4, 5});

  // copy_to a separate model by name.
  Variable other(Tensor::zeros({3}), true);
  ema.copy_to({{"w", other}});
  CHECK(other.value().to_vector() == std::vector<double>{2, 3, 4});
  Variable wrong(Tensor::zeros({4}), true);
  CHECK_THROWS_WITH(ema.copy_to({{"w", wrong}}), Catch::Contains("size mismatch for 'w'"));
  CHECK_THROWS_WITH(ema.copy_to({{"v", wrong}}), Catch::Contains("missing: 'w'"));
}

TEST_CASE("EMA state export and import", "[ema]") {
  Variable a(Tensor::from_vector({1, 2}, {2}), true), b(Tensor::from_vector({5}, {1}), true);
  EMA ema({{"a", a}, {"b", b}}, {.decay = 0.9});
  a.mutable_value().fill_(10.0);
  ema.update();
  const NamedTensors state = ema.state_tensors("ema.");
  REQUIRE(state.size() == 2);
  CHECK(state[0].first == "ema.a");
  CHECK(state[1].first == "ema.b");

  EMA fresh({{"a", a}, {"b", b}}, {.decay = 0.9});
  fresh.load_state_tensors(state, "ema.");
  CHECK(fresh.state_tensors("ema.")[0].second.to_vector() == state[0].second.to_vector());

  NamedTensors bad = {{"ema.a", Tensor::zeros({3})}, {"ema.c", Tensor::zeros({1})}, {"other", Tensor::zeros({1})}};
  try {
    fresh.load_state_tensors(bad, "ema.");
    FAIL("accepted bad EMA state");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("3 problems in the EMA state"));
    CHECK_THAT(msg, Catch::Contains("size mismatch for 'ema.a': the parameter has (2,), the EMA state has (3,)"));
    CHECK_THAT(msg, Catch::Contains("missing: 'ema.b' (1,)"));
    CHECK_THAT(msg, Catch::Contains("unexpected: 'ema.c'"));
  }
  CHECK(fresh.state_tensors("ema.")[0].second.to_vector() == state[0].second.to_vector());  // unchanged
}
