// gradcheck: analytic gradients against central finite differences. See gradcheck.h.
#include "autograd/gradcheck.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "tensor/tensor.h"

namespace tinydiff {

namespace {

/// Advances a row-major multi-index over `shape`; returns false after the last element.
bool next_index(std::vector<int64_t>& index, const Shape& shape) {
  for (int64_t k = static_cast<int64_t>(shape.size()) - 1; k >= 0; --k) {
    if (++index[k] < shape[k]) return true;
    index[k] = 0;
  }
  return false;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// The worst failing element seen so far.
struct Worst {
  double score = -1;  // |diff| - tol; +inf for NaN
  size_t input = 0;
  std::vector<int64_t> index;
  double analytic = 0, numeric = 0, diff = 0;
};

}  // namespace

GradcheckResult gradcheck(const std::string& name, const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  const std::string op = fmt::format("gradcheck({})", name);
  TD_CHECK(options.eps > 0, op, fmt::format("eps must be positive, got {}", options.eps));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    check_defined(t, op.c_str());
    TD_CHECK(t.dtype() != DType::F32, op,
             fmt::format("input {} {} is float32; finite differences need float64 inputs: pass x.to(DType::F64)", i,
                         shape_str(t.shape())));
    for (int64_t k = 0; k < t.dim(); ++k)
      TD_CHECK(t.strides()[k] != 0 || t.shape()[k] <= 1, op,
               fmt::format("input {} {} is expanded (axis {} has stride 0); perturbing one element would move "
                           "several; pass a contiguous copy (clone())",
                           i, shape_str(t.shape()), k));
  }

  // Analytic side: y = f(x) with float64 leaves, then y.backward(u).
  std::vector<Variable> leaves;
  leaves.reserve(inputs.size());
  for (const Tensor& t : inputs) leaves.emplace_back(t, t.dtype() == DType::F64);
  Variable y = f(leaves);
  TD_CHECK(y.defined(), op, "the function returned an undefined Variable");
  TD_CHECK(y.dtype() == DType::F64, op,
           fmt::format("the function returned a {} value; gradcheck needs a float64 output", dtype_name(y.dtype())));
  const Shape out_shape = y.shape();
  Generator gen(options.seed);
  const Tensor u = gen.normal(out_shape, 0.0, 1.0, DType::F64);
  const std::vector<double> uv = u.to_vector();
  if (y.requires_grad()) y.backward(u);

  // <f(x), u> without recording a graph.
  auto project = [&]() -> double {
    NoGradGuard no_grad;
    std::vector<Variable> vs;
    vs.reserve(inputs.size());
    for (const Tensor& t : inputs) vs.emplace_back(t, false);
    Variable z = f(vs);
    TD_CHECK(z.defined() && z.shape() == out_shape, op,
             fmt::format("the function's output shape changed between calls: {} then {}", shape_str(out_shape),
                         z.defined() ? shape_str(z.shape()) : std::string("undefined")));
    return dot(z.value().to_vector(), uv);
  };

  GradcheckResult result;
  Worst worst;
  size_t failures = 0, checked = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::F64) continue;
    Tensor x = inputs[i];  // a view sharing the caller's storage: perturbations go through it
    Tensor analytic = leaves[i].has_grad() ? leaves[i].grad() : Tensor::zeros(x.shape(), DType::F64);
    if (analytic.dtype() != DType::F64) {
      result.ok = false;
      result.message = fmt::format("{}: input {}: the analytic gradient is {}, expected float64 like the input", op, i,
                                   dtype_name(analytic.dtype()));
      return result;
    }
    if (x.numel() == 0) continue;
    std::vector<int64_t> index(static_cast<size_t>(x.dim()), 0);
    do {
      const double orig = x.at(index);
      double plus = 0, minus = 0;
      try {
        x.set(index, orig + options.eps);
        plus = project();
        x.set(index, orig - options.eps);
        minus = project();
      } catch (...) {
        x.set(index, orig);  // leave the caller's tensor as it was
        throw;
      }
      x.set(index, orig);
      const double numeric = (plus - minus) / (2 * options.eps);
      const double a = analytic.at(index);
      const double diff = std::abs(a - numeric);
      const double tol = options.atol + options.rtol * std::abs(numeric);
      ++checked;
      if (std::isnan(diff) || diff > result.max_abs_error) result.max_abs_error = diff;
      if (!(diff <= tol)) {
        ++failures;
        const double score = std::isnan(diff) ? std::numeric_limits<double>::infinity() : diff - tol;
        if (score > worst.score) worst = Worst{score, i, index, a, numeric, diff};
      }
    } while (next_index(index, x.shape()));
  }

  if (failures > 0) {
    result.ok = false;
    result.message = fmt::format(
        "{}: input {}, element {}: analytic {:.6g} vs numeric {:.6g} (|diff| {:.6g} > atol {:.6g} + rtol {:.6g} * "
        "{:.6g}); {} of {} checked elements fail",
        op, worst.input, shape_str(worst.index), worst.analytic, worst.numeric, worst.diff, options.atol, options.rtol,
        std::abs(worst.numeric), failures, checked);
  } else {
    result.message = fmt::format("{}: ok, {} elements checked, max |diff| {:.3g}", op, checked, result.max_abs_error);
  }
  return result;
}

}  // namespace tinydiff
