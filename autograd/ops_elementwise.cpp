// Differentiable elementwise ops, forward and backward side by side. See ops_elementwise.h.
//
// Notation in the comments: y is the op's output, g = dL/dy the adjoint arriving from
// upstream (shape of y), and "sum_to" reduces a broadcast adjoint to an input's shape.
#include "autograd/ops_elementwise.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "tensor/tensor.h"
#include "tensor/vec_math.h"

namespace tinydiff {

namespace {

/// The adjoint of a broadcast input: `g` summed down to `shape` (`g` itself when shapes agree).
Tensor reduce_to(const Tensor& g, const Shape& shape) { return g.shape() == shape ? g : sum_to(g, shape); }

/// Binary ops do not promote: float32 with float64 is a user error, reported clearly.
void check_same_dtype(const Variable& a, const Variable& b, const char* op) {
  TD_CHECK(a.dtype() == b.dtype(), op,
           fmt::format("operands have different dtypes: {} {} and {} {}; binary ops do not promote, convert one "
                       "with .to() first",
                       shape_str(a.shape()), dtype_name(a.dtype()), shape_str(b.shape()), dtype_name(b.dtype())));
}

/// A new contiguous tensor with f applied to every element of x (the derivative kernels below).
/// f is called with a float or double and returns the same type.
template <typename F>
Tensor map_unary(const Tensor& x, const char* op, F f) {
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data<T>();
    T* po = out.data<T>();
    parallel_for(x.numel(), 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = f(px[i]);
    });
  });
  return out;
}

/// A new contiguous tensor with f(a, b) for every element of two same-shaped tensors (a fused
/// "upstream gradient times local derivative" pass).
template <typename F>
Tensor map_binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(b.shape(), b.dtype());
  dispatch_floating(b.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = ac.data<T>();
    const T* pb = bc.data<T>();
    T* po = out.data<T>();
    parallel_for(b.numel(), 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], pb[i]);
    });
  });
  return out;
}

}  // namespace

// ============================================================================================
// Binary ops. a, b: any shapes that broadcast to y's shape.

Variable add(const Variable& a, const Variable& b) {
  check_same_dtype(a, b, "add");
  Tensor y = add(a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  // dy/da = 1, dy/db = 1:  a_bar = sum_to(g), b_bar = sum_to(g)
  return make_result("add", std::move(y), {a, b}, [need_a, need_b, sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{need_a ? reduce_to(g, sa) : Tensor(), need_b ? reduce_to(g, sb) : Tensor()};
  });
}

Variable sub(const Variable& a, const Variable& b) {
  check_same_dtype(a, b, "sub");
  Tensor y = sub(a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  // dy/da = 1, dy/db = -1:  a_bar = sum_to(g), b_bar = sum_to(-g)
  return make_result("sub", std::move(y), {a, b}, [need_a, need_b, sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{need_a ? reduce_to(g, sa) : Tensor(), need_b ? reduce_to(neg(g), sb) : Tensor()};
  });
}

Variable mul(const Variable& a, const Variable& b) {
  check_same_dtype(a, b, "mul");
  Tensor y = mul(a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor keep_a = need_b ? a.value() : Tensor();  // b's gradient needs a, and vice versa
  Tensor keep_b = need_a ? b.value() : Tensor();
  // dy/da = b, dy/db = a:  a_bar = sum_to(g b), b_bar = sum_to(g a)
  return make_result("mul", std::move(y), {a, b}, [keep_a, keep_b, sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{keep_b.defined() ? reduce_to(mul(g, keep_b), sa) : Tensor(),
                               keep_a.defined() ? reduce_to(mul(g, keep_a), sb) : Tensor()};
  });
}

Variable div(const Variable& a, const Variable& b) {
  check_same_dtype(a, b, "div");
  Tensor y = div(a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor keep_y = need_b ? y : Tensor();
  // dy/da = 1/b, dy/db = -a/b^2 = -y/b:  a_bar = sum_to(g / b), b_bar = sum_to(-g y / b)
  return make_result(
      "div", std::move(y), {a, b}, [need_a, keep_y, bv = b.value(), sa = a.shape(), sb = b.shape()](const Tensor& g) {
        return std::vector<Tensor>{need_a ? reduce_to(div(g, bv), sa) : Tensor(),
                                   keep_y.defined() ? reduce_to(neg(div(mul(g, keep_y), bv)), sb) : Tensor()};
      });
}

Variable pow(const Variable& a, const Variable& b) {
  check_same_dtype(a, b, "pow");
  Tensor y = pow(a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor keep_b = need_a ? b.value() : Tensor();
  Tensor keep_y = need_b ? y : Tensor();
  // dy/da = b a^(b-1), dy/db = a^b ln a = y ln a:
  // a_bar = sum_to(g b a^(b-1)), b_bar = sum_to(g y ln a)
  return make_result("pow", std::move(y), {a, b},
                     [keep_b, keep_y, av = a.value(), sa = a.shape(), sb = b.shape()](const Tensor& g) {
                       return std::vector<Tensor>{
                           keep_b.defined() ? reduce_to(mul(g, mul(keep_b, pow(av, sub(keep_b, 1.0)))), sa) : Tensor(),
                           keep_y.defined() ? reduce_to(mul(g, mul(keep_y, log(av))), sb) : Tensor()};
                     });
}

namespace {
/// maximum (is_max) and minimum: the gradient goes to the winning operand; ties (a == b) give each half.
Variable select_binary(const char* name, const Variable& a, const Variable& b, bool is_max) {
  check_same_dtype(a, b, name);
  Tensor y = is_max ? maximum(a.value(), b.value()) : minimum(a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  // With m_a = [a wins] + 1/2 [a == b] and m_b = 1 - m_a:
  // a_bar = sum_to(g m_a), b_bar = sum_to(g m_b)
  return make_result(
      name, std::move(y), {a, b},
      [need_a, need_b, is_max, av = a.value(), bv = b.value(), sa = a.shape(), sb = b.shape()](const Tensor& g) {
        const Tensor m_a = add(is_max ? gt(av, bv) : lt(av, bv), mul(eq(av, bv), 0.5));
        return std::vector<Tensor>{need_a ? reduce_to(mul(g, m_a), sa) : Tensor(),
                                   need_b ? reduce_to(mul(g, sub(1.0, m_a)), sb) : Tensor()};
      });
}
}  // namespace

Variable maximum(const Variable& a, const Variable& b) { return select_binary("maximum", a, b, true); }
Variable minimum(const Variable& a, const Variable& b) { return select_binary("minimum", a, b, false); }

// ============================================================================================
// With a scalar s (a constant: only the Variable gets a gradient).

Variable add(const Variable& a, double s) {
  // dy/da = 1
  return make_result("add", add(a.value(), s), {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}
Variable add(double s, const Variable& a) { return add(a, s); }

Variable sub(const Variable& a, double s) {
  // dy/da = 1
  return make_result("sub", sub(a.value(), s), {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Variable sub(double s, const Variable& a) {
  // dy/da = -1
  return make_result("sub", sub(s, a.value()), {a}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Variable mul(const Variable& a, double s) {
  // dy/da = s
  return make_result("mul", mul(a.value(), s), {a}, [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
}
Variable mul(double s, const Variable& a) { return mul(a, s); }

Variable div(const Variable& a, double s) {
  // dy/da = 1/s
  return make_result("div", div(a.value(), s), {a}, [s](const Tensor& g) { return std::vector<Tensor>{div(g, s)}; });
}

Variable div(double s, const Variable& a) {
  Tensor y = div(s, a.value());
  // y = s/a: dy/da = -s/a^2 = -y/a
  return make_result("div", y, {a},
                     [y, av = a.value()](const Tensor& g) { return std::vector<Tensor>{neg(div(mul(g, y), av))}; });
}

Variable pow(const Variable& a, double p) {
  // dy/da = p a^(p-1) (exactly 0 for p = 0, also where a = 0)
  return make_result("pow", pow(a.value(), p), {a}, [p, av = a.value()](const Tensor& g) {
    if (p == 0.0) return std::vector<Tensor>{Tensor::zeros(av.shape(), av.dtype())};
    return std::vector<Tensor>{mul(g, mul(pow(av, p - 1.0), p))};
  });
}

// ============================================================================================
// Unary ops. x and y have the same shape.

Variable neg(const Variable& x) {
  // dy/dx = -1
  return make_result("neg", neg(x.value()), {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Variable exp(const Variable& x) {
  Tensor y = exp(x.value());
  // dy/dx = e^x = y
  return make_result("exp", y, {x}, [y](const Tensor& g) { return std::vector<Tensor>{mul(g, y)}; });
}

Variable log(const Variable& x) {
  // dy/dx = 1/x
  return make_result("log", log(x.value()), {x},
                     [xv = x.value()](const Tensor& g) { return std::vector<Tensor>{div(g, xv)}; });
}

Variable sqrt(const Variable& x) {
  Tensor y = sqrt(x.value());
  // dy/dx = 1 / (2 sqrt(x)) = 0.5 / y
  return make_result("sqrt", y, {x}, [y](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), y)}; });
}

Variable rsqrt(const Variable& x) {
  Tensor y = rsqrt(x.value());
  // y = x^(-1/2): dy/dx = -1/2 x^(-3/2) = -1/2 y^3
  return make_result("rsqrt", y, {x},
                     [y](const Tensor& g) { return std::vector<Tensor>{mul(g, mul(mul(square(y), y), -0.5))}; });
}

Variable abs(const Variable& x) {
  // dy/dx = sign(x) = [x > 0] - [x < 0]  (0 at x = 0, like PyTorch)
  return make_result("abs", abs(x.value()), {x}, [xv = x.value()](const Tensor& g) {
    return std::vector<Tensor>{mul(g, sub(gt(xv, 0.0), lt(xv, 0.0)))};
  });
}

Variable square(const Variable& x) {
  // dy/dx = 2x
  return make_result("square", square(x.value()), {x},
                     [xv = x.value()](const Tensor& g) { return std::vector<Tensor>{mul(g, mul(xv, 2.0))}; });
}

Variable sin(const Variable& x) {
  // dy/dx = cos x
  return make_result("sin", sin(x.value()), {x},
                     [xv = x.value()](const Tensor& g) { return std::vector<Tensor>{mul(g, cos(xv))}; });
}

Variable cos(const Variable& x) {
  // dy/dx = -sin x
  return make_result("cos", cos(x.value()), {x},
                     [xv = x.value()](const Tensor& g) { return std::vector<Tensor>{neg(mul(g, sin(xv)))}; });
}

Variable tanh(const Variable& x) {
  Tensor y = tanh(x.value());
  // dy/dx = 1 - tanh^2 x = 1 - y^2
  return make_result("tanh", y, {x}, [y](const Tensor& g) { return std::vector<Tensor>{mul(g, sub(1.0, square(y)))}; });
}

Variable sigmoid(const Variable& x) {
  Tensor y = sigmoid(x.value());
  // dy/dx = sigma(x) (1 - sigma(x)) = y (1 - y)
  return make_result("sigmoid", y, {x},
                     [y](const Tensor& g) { return std::vector<Tensor>{mul(g, mul(y, sub(1.0, y)))}; });
}

Variable relu(const Variable& x) {
  Tensor y = relu(x.value());
  // dy/dx = [x > 0] = [y > 0]  (0 at x = 0, like PyTorch)
  return make_result("relu", y, {x}, [y](const Tensor& g) { return std::vector<Tensor>{mul(g, gt(y, 0.0))}; });
}

Variable silu(const Variable& x) {
  // y = x s with s = sigma(x), s' = s (1 - s):  dy/dx = s + x s (1 - s) = s (1 + x (1 - s))
  return make_result("silu", silu(x.value()), {x}, [xv = x.value()](const Tensor& g) {
    // x_bar = g s (1 + x (1 - s)), one vectorised pass (vsigmoid)
    return std::vector<Tensor>{map_binary(g, xv, "silu", [](auto gv, auto v) {
      using T = decltype(v);
      const T s = vsigmoid(v);
      return gv * (s * (T(1) + v * (T(1) - s)));
    })};
  });
}

Variable gelu_erf(const Variable& x) {
  // y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, Phi' = phi(x) = exp(-x^2 / 2) / sqrt(2 pi):
  // dy/dx = Phi(x) + x phi(x)
  return make_result("gelu_erf", gelu_erf(x.value()), {x}, [xv = x.value()](const Tensor& g) {
    const Tensor d = map_unary(xv, "gelu_erf", [](auto v) {
      using T = decltype(v);
      const T cdf = T(0.5) * (T(1) + std::erf(v * T(std::numbers::sqrt2 / 2)));
      const T pdf = std::exp(T(-0.5) * v * v) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
      return cdf + v * pdf;
    });
    return std::vector<Tensor>{mul(g, d)};
  });
}

Variable gelu_tanh(const Variable& x) {
  // y = x/2 (1 + t), t = tanh(u), u = c (x + k x^3), c = sqrt(2/pi), k = 0.044715:
  // dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 k x^2)
  return make_result("gelu_tanh", gelu_tanh(x.value()), {x}, [xv = x.value()](const Tensor& g) {
    const Tensor d = map_unary(xv, "gelu_tanh", [](auto v) {
      using T = decltype(v);
      const T c = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi), k = T(0.044715);
      const T t = std::tanh(c * (v + k * v * v * v));
      return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * c * (T(1) + T(3) * k * v * v);
    });
    return std::vector<Tensor>{mul(g, d)};
  });
}

Variable clamp(const Variable& x, double lo, double hi) {
  // dy/dx = [lo <= x <= hi]  (the limits themselves pass the gradient, like PyTorch)
  return make_result("clamp", clamp(x.value(), lo, hi), {x}, [lo, hi, xv = x.value()](const Tensor& g) {
    const Tensor inside = map_unary(xv, "clamp", [lo, hi](auto v) {
      using T = decltype(v);
      return (v >= lo && v <= hi) ? T(1) : T(0);
    });
    return std::vector<Tensor>{mul(g, inside)};
  });
}

Variable where(const Tensor& cond, const Variable& a, const Variable& b) {
  check_same_dtype(a, b, "where");
  Tensor y = where(cond, a.value(), b.value());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  // dy/da = [c != 0], dy/db = [c == 0]:  a_bar = sum_to(where(c, g, 0)), b_bar = sum_to(where(c, 0, g))
  return make_result("where", std::move(y), {a, b},
                     [need_a, need_b, cond, sa = a.shape(), sb = b.shape()](const Tensor& g) {
                       const Tensor zero = Tensor::scalar(0.0, g.dtype());
                       return std::vector<Tensor>{need_a ? reduce_to(where(cond, g, zero), sa) : Tensor(),
                                                  need_b ? reduce_to(where(cond, zero, g), sb) : Tensor()};
                     });
}

}  // namespace tinydiff
