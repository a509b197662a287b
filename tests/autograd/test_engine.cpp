// Tests of the backward engine (autograd/variable.h): accumulation, graph shapes, retain_graph,
// upstream gradients, NoGradGuard and EnableGradGuard, detach, leaves and their error messages.
// Expected gradients are worked out by hand in the comments; float64 comparisons use Approx's
// default (~1e-12 rel).
#include <catch2/catch.hpp>

#include <cmath>
#include <thread>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {
Tensor vec64(const std::vector<double>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, DType::F64);
}
}  // namespace

TEST_CASE("engine: a value used twice accumulates both adjoints (y = x*x + x)", "[autograd][engine]") {
  Variable x(vec64({1.0, -2.0, 0.5}), true);
  Variable loss = sum(x * x + x);
  loss.backward();
  // dy/dx = 2x + 1
  REQUIRE(x.has_grad());
  CHECK(x.grad().to_vector() == std::vector<double>{3.0, -3.0, 2.0});
}

TEST_CASE("engine: diamond graph sums the two paths", "[autograd][engine]") {
  // h = 3x feeds both p = h^2 and q = sin h; loss = sum(p + q): dloss/dx = 3 (2h + cos h)
  Variable x(vec64({0.3, -1.2}), true);
  Variable h = x * 3.0;
  Variable loss = sum(square(h) + sin(h));
  loss.backward();
  for (int64_t i = 0; i < 2; ++i) {
    const double hv = 3.0 * x.value().at({i});
    CHECK(x.grad().at({i}) == Approx(3.0 * (2.0 * hv + std::cos(hv))));
  }
}

TEST_CASE("engine: gradients accumulate across backward calls until zero_grad", "[autograd][engine]") {
  Variable x(vec64({2.0}), true);
  sum(x * 5.0).backward();
  sum(x * 5.0).backward();  // a new graph: x.grad accumulates to 10
  CHECK(x.grad().item() == 10.0);
  x.zero_grad();
  CHECK_FALSE(x.has_grad());
  sum(x * 5.0).backward();
  CHECK(x.grad().item() == 5.0);
}

TEST_CASE("engine: backward with an explicit upstream gradient", "[autograd][engine]") {
  Variable x(vec64({1.0, 2.0, 3.0}), true);
  Variable y = exp(x);  // non-scalar: needs grad_output
  Tensor u = vec64({1.0, -1.0, 0.5});
  y.backward(u);
  // x_bar = u e^x
  for (int64_t i = 0; i < 3; ++i) CHECK(x.grad().at({i}) == Approx(u.at({i}) * std::exp(x.value().at({i}))));
}

TEST_CASE("engine: retain_graph allows a second backward, the default frees the graph", "[autograd][engine]") {
  Variable x(vec64({1.5}), true);
  Variable loss = sum(exp(x));
  loss.backward(/*retain_graph=*/true);
  CHECK(loss.grad_fn()->alive);
  loss.backward();  // uses the retained graph, then frees it
  CHECK(x.grad().item() == Approx(2.0 * std::exp(1.5)));
  CHECK_FALSE(loss.grad_fn()->alive);
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("retain_graph"));

  Variable z(vec64({0.5}), true);
  Variable l2 = sum(sin(z) * 2.0);
  l2.backward();
  CHECK_THROWS_WITH(l2.backward(), Catch::Contains("second time") && Catch::Contains("retain_graph"));
}

TEST_CASE("engine: backward on a non-scalar without grad_output, or with a wrong shape, throws", "[autograd][engine]") {
  Variable x(Tensor::ones({2, 3}, DType::F64), true);
  Variable y = x * 2.0;
  CHECK_THROWS_WITH(y.backward(),
                    Catch::Contains("backward") && Catch::Contains("(2, 3)") && Catch::Contains("scalar"));
  CHECK_THROWS_WITH(y.backward(Tensor::ones({3, 2}, DType::F64)),
                    Catch::Contains("upstream gradient has shape (3, 2)"));
  CHECK_THROWS_WITH(y.backward(Tensor::ones({2, 3}, DType::F32)), Catch::Contains("float32"));
}

TEST_CASE("engine: NoGradGuard records nothing", "[autograd][engine]") {
  Variable x(vec64({1.0, 2.0}), true);
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    Variable y = exp(x * 2.0);
    CHECK(y.is_leaf());
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK(y.value().at({0}) == Approx(std::exp(2.0)));  // the value is still computed
    CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("does not require a gradient"));
  }
  CHECK(grad_enabled());
  Variable z = x * 2.0;  // recording resumes after the guard
  CHECK_FALSE(z.is_leaf());
  CHECK(z.requires_grad());
}

TEST_CASE("engine: EnableGradGuard records inside a NoGradGuard, and the guard restores the mode it found",
          "[autograd][engine]") {
  Variable x(vec64({3.0}), true);
  {
    NoGradGuard no_grad;
    {
      EnableGradGuard enable_grad;
      CHECK(grad_enabled());
      Variable y = x * x;  // recorded: dy/dx = 2x = 6
      CHECK_FALSE(y.is_leaf());
      REQUIRE(y.requires_grad());
      sum(y).backward();
      CHECK(x.grad().item() == 6.0);
    }
    CHECK_FALSE(grad_enabled());  // back to the NoGradGuard's mode, not to the default
    CHECK((x * x).is_leaf());
  }
  CHECK(grad_enabled());
  {
    EnableGradGuard enable_grad;  // already on: stays on, and stays on after
    CHECK(grad_enabled());
  }
  CHECK(grad_enabled());
}

TEST_CASE("engine: NoGradGuard and EnableGradGuard nest both ways, each restoring its own entry mode",
          "[autograd][engine]") {
  std::vector<bool> seen;
  {
    EnableGradGuard a;
    seen.push_back(grad_enabled());  // on
    {
      NoGradGuard b;
      seen.push_back(grad_enabled());  // off
      {
        EnableGradGuard c;
        seen.push_back(grad_enabled());  // on
        {
          NoGradGuard d;
          seen.push_back(grad_enabled());  // off
        }
        seen.push_back(grad_enabled());  // on (c)
      }
      seen.push_back(grad_enabled());  // off (b)
      {
        NoGradGuard e;  // already off: stays off
        seen.push_back(grad_enabled());
      }
      seen.push_back(grad_enabled());  // off (b)
    }
    seen.push_back(grad_enabled());  // on (a)
  }
  seen.push_back(grad_enabled());  // on: the default
  CHECK(seen == std::vector<bool>{true, false, true, false, true, false, false, false, true, true});

  // The mode is per thread: a guard on this thread does not reach another one.
  NoGradGuard no_grad;
  bool other_thread = false;
  std::thread([&] { other_thread = grad_enabled(); }).join();
  CHECK(other_thread);
  CHECK_FALSE(grad_enabled());
}

TEST_CASE("engine: detach cuts the graph and shares the value", "[autograd][engine]") {
  Variable x(vec64({3.0}), true);
  Variable y = x * x;
  Variable d = y.detach();
  CHECK(d.is_leaf());
  CHECK_FALSE(d.requires_grad());
  CHECK(d.value().storage() == y.value().storage());
  // loss = d * x with d treated as a constant 9: dloss/dx = 9, not 3 x^2 = 27
  sum(d * x).backward();
  CHECK(x.grad().item() == 9.0);
}

TEST_CASE("engine: leaves and non-leaves", "[autograd][engine]") {
  Variable w(vec64({1.0, 2.0}), true);
  Variable c(vec64({3.0, 4.0}));  // a constant leaf
  CHECK(w.is_leaf());
  CHECK(c.is_leaf());
  CHECK_FALSE(c.requires_grad());
  Variable y = w * c;
  CHECK_FALSE(y.is_leaf());
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->name == "mul");
  CHECK_THROWS_WITH(y.set_requires_grad(false), Catch::Contains("only leaves"));
  sum(y).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{3.0, 4.0});
  CHECK_FALSE(c.has_grad());  // constants get no gradient
  CHECK_FALSE(y.has_grad());  // non-leaves do not keep theirs
  // Ops on constants only record nothing.
  Variable k = c * 2.0;
  CHECK(k.is_leaf());
  CHECK_FALSE(k.requires_grad());
}

TEST_CASE("engine: an int64 leaf cannot require a gradient", "[autograd][engine]") {
  Tensor ids = Tensor::from_indices({1, 2}, {2});
  CHECK_THROWS_WITH(Variable(ids, true), Catch::Contains("int64"));
  Variable v(ids);
  CHECK_THROWS_WITH(v.set_requires_grad(true), Catch::Contains("int64"));
  Variable undefined;
  CHECK_THROWS_WITH(undefined.value(), Catch::Contains("undefined"));
}

TEST_CASE("engine: a long chain runs without recursion", "[autograd][engine]") {
  // 5000 ops deep: y = x + 1 + 1 + ...; dy/dx = 1
  Variable x(vec64({0.0}), true);
  Variable y = x;
  for (int i = 0; i < 5000; ++i) y = y + 1.0;
  sum(y).backward();
  CHECK(y.value().item() == 5000.0);
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("engine: a leaf reached through several ops and inputs gets the sum", "[autograd][engine]") {
  // loss = sum(x * y + x / y + y) with x = 2, y = 4:
  // dloss/dx = y + 1/y = 4.25; dloss/dy = x - x/y^2 + 1 = 2.875
  Variable x(vec64({2.0}), true), y(vec64({4.0}), true);
  sum(x * y + x / y + y).backward();
  CHECK(x.grad().item() == Approx(4.25));
  CHECK(y.grad().item() == Approx(2.875));
}
