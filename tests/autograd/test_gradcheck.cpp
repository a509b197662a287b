// Tests of gradcheck itself: it passes correct gradients, and it can fail, naming the op,
// the input and the element, on deliberately wrong backward functions built with make_result.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/autograd.h"
#include "check_gradcheck.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

Tensor randn64(const Shape& shape, uint64_t seed) { return Generator(seed).normal(shape, 0.0, 1.0, DType::F64); }

/// sin with a wrong derivative: d/dx sin x = sin x (the right one is cos x).
Variable bad_sin(const Variable& x) {
  return make_result("bad_sin", sin(x.value()), {x},
                     [xv = x.value()](const Tensor& g) { return std::vector<Tensor>{mul(g, sin(xv))}; });
}

/// The identity, whose backward doubles the adjoint of element (1, 2) only.
Variable bad_identity(const Variable& x) {
  return make_result("bad_identity", x.value().clone(), {x}, [](const Tensor& g) {
    Tensor gx = g.clone();
    gx.set({1, 2}, 2.0 * g.at({1, 2}));
    return std::vector<Tensor>{gx};
  });
}

/// y = a * b whose backward gets b's gradient off by `error` in every element.
Variable off_mul(const Variable& a, const Variable& b, double error) {
  return make_result("off_mul", mul(a.value(), b.value()), {a, b},
                     [av = a.value(), bv = b.value(), error](const Tensor& g) {
                       return std::vector<Tensor>{mul(g, bv), add(mul(g, av), error)};
                     });
}

}  // namespace

TEST_CASE("gradcheck passes a correct gradient and reports the largest error", "[autograd][gradcheck]") {
  // mul's gradient is exact up to rounding; the central difference of a bilinear function is
  // exact too, so the error is rounding only (~1e-10 with eps 1e-6).
  GradcheckResult r = gradcheck("mul", [](const std::vector<Variable>& v) { return mul(v[0], v[1]); },
                                {randn64({2, 3}, 1), randn64({2, 3}, 2)});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.max_abs_error < 1e-8);
  CHECK_THAT(r.message, Catch::Contains("gradcheck(mul): ok"));
}

TEST_CASE("gradcheck fails a wrong derivative (d/dx sin = sin) and names op and element", "[autograd][gradcheck]") {
  GradcheckResult r =
      gradcheck("bad_sin", [](const std::vector<Variable>& v) { return bad_sin(v[0]); }, {randn64({3, 4}, 3)});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("gradcheck(bad_sin)"));
  CHECK_THAT(r.message, Catch::Contains("input 0, element ("));
  CHECK_THAT(r.message, Catch::Contains("analytic"));
  CHECK_THAT(r.message, Catch::Contains("numeric"));
  CHECK_THAT(r.message, Catch::Contains("> atol 1e-05 + rtol 0.001 *"));
  CHECK(r.max_abs_error > 0.01);
}

TEST_CASE("gradcheck points at the one wrong element with both values", "[autograd][gradcheck]") {
  // Only element (1, 2) is wrong: analytic = 2 u_12, numeric = u_12, where u is gradcheck's
  // upstream gradient, Generator(seed).normal of the output's shape.
  GradcheckOptions opt;
  opt.seed = 7;
  GradcheckResult r = gradcheck(
      "bad_identity", [](const std::vector<Variable>& v) { return bad_identity(v[0]); }, {randn64({2, 4}, 4)}, opt);
  const double u12 = Generator(7).normal({2, 4}, 0.0, 1.0, DType::F64).at({1, 2});
  REQUIRE(std::abs(u12) > 1e-3);  // the seed gives a clearly non-zero weight there
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("gradcheck(bad_identity): input 0, element (1, 2)"));
  CHECK_THAT(r.message, Catch::Contains(fmt::format("analytic {:.6g} vs numeric", 2 * u12)));
  CHECK_THAT(r.message, Catch::Contains("1 of 8 checked elements fail"));
  CHECK(r.max_abs_error == Approx(std::abs(u12)).epsilon(1e-6));
}

TEST_CASE("gradcheck names the failing input and honours atol", "[autograd][gradcheck]") {
  auto f = [](const std::vector<Variable>& v) { return off_mul(v[0], v[1], 1e-3); };
  const std::vector<Tensor> inputs{randn64({3}, 5), randn64({3}, 6)};
  GradcheckResult strict = gradcheck("off_mul", f, inputs);  // default atol 1e-5 < 1e-3 error
  CHECK_FALSE(strict.ok);
  CHECK_THAT(strict.message, Catch::Contains("gradcheck(off_mul): input 1, element ("));
  GradcheckOptions loose;
  loose.atol = 1e-2;  // now the 1e-3 error is inside the tolerance
  GradcheckResult r = gradcheck("off_mul", f, inputs, loose);
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.max_abs_error == Approx(1e-3).epsilon(1e-3));
}

TEST_CASE("gradcheck fails on NaN gradients", "[autograd][gradcheck]") {
  auto nan_op = [](const std::vector<Variable>& v) {
    return make_result("nan_grad", v[0].value().clone(), {v[0]},
                       [](const Tensor& g) { return std::vector<Tensor>{mul(g, std::nan(""))}; });
  };
  GradcheckResult r = gradcheck("nan_grad", nan_op, {randn64({2}, 8)});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("analytic nan"));
}

TEST_CASE("gradcheck rejects float32 and expanded inputs", "[autograd][gradcheck]") {
  auto f = [](const std::vector<Variable>& v) { return sin(v[0]); };
  CHECK_THROWS_WITH(gradcheck("sin", f, {Tensor::ones({2, 2})}),
                    Catch::Contains("float32") && Catch::Contains("float64"));
  const Tensor expanded = randn64({1, 3}, 9).expand({4, 3});
  CHECK_THROWS_WITH(gradcheck("sin", f, {expanded}), Catch::Contains("expanded"));
  // A float32 output from float64 inputs is an error as well.
  auto to32 = [](const std::vector<Variable>& v) { return Variable(v[0].value().to(DType::F32)); };
  CHECK_THROWS_WITH(gradcheck("to32", to32, {randn64({2}, 10)}), Catch::Contains("float64 output"));
}

TEST_CASE("gradcheck perturbs non-contiguous inputs through the view and restores them", "[autograd][gradcheck]") {
  const Tensor base = randn64({4, 3}, 11);
  const Tensor xt = base.transpose(0, 1);  // (3, 4), not contiguous
  REQUIRE_FALSE(xt.is_contiguous());
  const std::vector<double> before = base.to_vector();
  // If gradcheck perturbed a copy, the numeric side would be 0 and the check would fail.
  CHECK_GRADCHECK("sin", [](const std::vector<Variable>& v) { return sin(v[0]); }, {xt});
  CHECK(base.to_vector() == before);  // restored bit for bit
}

TEST_CASE("gradcheck passes int64 inputs as constants and handles unused inputs", "[autograd][gradcheck]") {
  const Tensor table = randn64({5, 2}, 12);
  const Tensor ids = Tensor::from_indices({4, 0, 4}, {3});
  CHECK_GRADCHECK("index_select", [](const std::vector<Variable>& v) { return index_select(v[0], 0, v[1].value()); },
                  {table, ids});
  // The output does not depend on input 1: analytic and numeric gradients are both 0.
  CHECK_GRADCHECK("unused", [](const std::vector<Variable>& v) { return exp(v[0]); },
                  {randn64({2}, 13), randn64({3}, 14)});
}
