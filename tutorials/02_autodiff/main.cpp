// Tutorial 2: automatic differentiation from scratch — a scalar value graph in a page of code,
// then tinydiff's tensor engine and gradcheck. The lesson is lesson.md.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/program.h"
#include "tutorials/common/args.h"
#include "tutorials/common/plot.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace scalar {

//! [scalar_engine]
// One number in a computation graph: its value, the gradient dL/d(value) that backward() fills
// in, the nodes it was computed from, and a function that passes its gradient on to them.
struct Node {
  double value = 0.0;
  double grad = 0.0;
  std::vector<std::shared_ptr<Node>> inputs{};
  std::function<void(const Node& self)> push_grad = [](const Node&) {};  // adds to inputs' grads
};
using Value = std::shared_ptr<Node>;

Value leaf(double v) { return std::make_shared<Node>(Node{.value = v}); }
Value make(double v, std::vector<Value> inputs, std::function<void(const Node&)> push_grad) {
  return std::make_shared<Node>(Node{.value = v, .inputs = std::move(inputs), .push_grad = std::move(push_grad)});
}

// Each op computes its value and records its local derivatives (the chain rule's factors).
Value operator+(const Value& a, const Value& b) {
  return make(a->value + b->value, {a, b}, [a, b](const Node& y) {
    a->grad += y.grad;  // d(a + b)/da = 1
    b->grad += y.grad;  // d(a + b)/db = 1
  });
}
Value operator*(const Value& a, const Value& b) {
  return make(a->value * b->value, {a, b}, [a, b](const Node& y) {
    a->grad += y.grad * b->value;  // d(ab)/da = b
    b->grad += y.grad * a->value;  // d(ab)/db = a
  });
}
Value tanh(const Value& a) {
  const double t = std::tanh(a->value);
  return make(t, {a}, [a, t](const Node& y) { a->grad += y.grad * (1.0 - t * t); });  // tanh' = 1 - tanh^2
}

// Reverse mode: visit nodes so that each comes after everything computed from it, starting
// from dL/dL = 1. A node reached along several paths has summed all their contributions
// before it passes its own gradient on.
void backward(const Value& loss) {
  std::vector<Node*> order;  // topological order: inputs before the nodes made from them
  std::set<Node*> seen;
  std::function<void(Node*)> visit = [&](Node* n) {
    if (!seen.insert(n).second) return;
    for (const Value& in : n->inputs) visit(in.get());
    order.push_back(n);
  };
  visit(loss.get());
  loss->grad = 1.0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) (*it)->push_grad(**it);
}
//! [scalar_engine]

}  // namespace scalar

namespace {

// The example function of the lesson, one neuron: y = tanh(w1 x1 + w2 x2 + b) with a
// squared output, so that one node (y) is used twice on the way to L = y * y.
double neuron(double x1, double x2, double w1, double w2, double b) {
  const double y = std::tanh(w1 * x1 + w2 * x2 + b);
  return y * y;
}

// The neuron on tensors of one element, in the given dtype (float32 or float64).
double neuron_tensor(double w1, DType dtype) {
  const auto v = [dtype](double s) { return Tensor::scalar(s, dtype); };
  const Tensor y = tanh(v(w1) * v(2.0) + v(-3.0) * v(0.5) + v(0.7));
  return (y * y).item();
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args = parse_tutorial_args(argc, argv, "02_autodiff", "a scalar autodiff engine, then tensors");

  heading("1. A scalar engine");
  //! [scalar_use]
  using namespace scalar;
  Value x1 = leaf(2.0), x2 = leaf(-3.0), w1 = leaf(0.5), w2 = leaf(0.5), b = leaf(0.7);
  Value y = tanh(w1 * x1 + w2 * x2 + b);
  Value L = y * y;  // y is used twice: its gradient sums two contributions
  backward(L);
  fmt::print("L = {:.6f}; dL/dw1 = {:.6f}, dL/dw2 = {:.6f}, dL/db = {:.6f}, dL/dx1 = {:.6f}\n", L->value, w1->grad,
             w2->grad, b->grad, x1->grad);
  //! [scalar_use]
  //! [finite_difference]
  const double h = 1e-6;  // central difference: (f(w + h) - f(w - h)) / 2h, error O(h^2)
  const double numeric = (neuron(2.0, -3.0, 0.5 + h, 0.5, 0.7) - neuron(2.0, -3.0, 0.5 - h, 0.5, 0.7)) / (2 * h);
  fmt::print("dL/dw1 by central difference = {:.6f} (|difference| {:.1e})\n", numeric, std::abs(numeric - w1->grad));
  //! [finite_difference]

  heading("2. The same neuron on the tensor engine");
  //! [tensor_engine]
  const auto scalar64 = [](double s, bool requires_grad) {
    return Variable(Tensor::scalar(s, DType::F64), requires_grad);
  };
  Variable vw1 = scalar64(0.5, true), vw2 = scalar64(0.5, true), vb = scalar64(0.7, true);
  Variable vy = tanh(vw1 * scalar64(2.0, false) + vw2 * scalar64(-3.0, false) + vb);
  Variable vL = vy * vy;
  vL.backward();
  fmt::print("Variable: dL/dw1 = {:.6f}, dL/dw2 = {:.6f}, dL/db = {:.6f}\n", vw1.grad().item(), vw2.grad().item(),
             vb.grad().item());
  //! [tensor_engine]
  fmt::print("scalar engine and tensor engine agree to {:.1e}\n",
             std::max({std::abs(vw1.grad().item() - w1->grad), std::abs(vw2.grad().item() - w2->grad),
                       std::abs(vb.grad().item() - b->grad)}));

  heading("3. The graph the tensor engine recorded");
  Variable vL2 = tanh(vw1 * scalar64(2.0, false) + vb) * scalar64(3.0, false);
  //! [graph]
  // Every non-leaf Variable points to the Node that made it; each Node points to its inputs' nodes.
  std::function<void(const std::shared_ptr<tinydiff::Node>&, int)> print_graph =
      [&](const std::shared_ptr<tinydiff::Node>& n, int depth) {
        fmt::print("{:>{}}{}\n", "", 2 * depth, n->name);
        for (const auto& next : n->next)
          if (next) print_graph(next, depth + 1);
      };
  print_graph(vL2.grad_fn(), 0);
  //! [graph]

  heading("4. Tensors: matmul, broadcasting and gradcheck");
  //! [gradcheck]
  Generator gen(0);
  // A layer and a loss: L = sum(silu(x W + b)^2) with x: (4, 3), W: (3, 5), b: (5) broadcast over rows.
  const auto layer_loss = [](const std::vector<Variable>& in) {
    return sum(square(silu(matmul(in[0], in[1]) + in[2])));
  };
  const std::vector<Tensor> inputs = {gen.normal({4, 3}, 0, 1, DType::F64), gen.normal({3, 5}, 0, 1, DType::F64),
                                      gen.normal({5}, 0, 1, DType::F64)};
  GradcheckResult r = gradcheck("layer_loss", layer_loss, inputs);
  fmt::print("{}: {}\n", r.ok ? "passed" : "FAILED", r.message);
  //! [gradcheck]
  //! [gradcheck_bug]
  // A wrong derivative is caught: this "op" computes x^3 but claims the derivative 2x.
  const auto wrong_cube = [](const std::vector<Variable>& in) {
    const Tensor xv = in[0].value();
    return make_result("wrong_cube", xv * xv * xv, in,
                       [xv](const Tensor& g) { return std::vector<Tensor>{g * xv * 2.0}; });
  };
  r = gradcheck("wrong_cube", wrong_cube, {gen.normal({3}, 0, 1, DType::F64)});
  fmt::print("{}: {}\n", r.ok ? "passed" : "FAILED (as it should)", r.message);
  //! [gradcheck_bug]

  heading("5. Why gradcheck uses float64 and a step of 1e-6");
  // The derivative of the neuron with respect to w1, by central differences with steps h, in
  // float64 and float32, against the exact value from backward().
  Series e64{.title = "float64", .with = "linespoints lw 2 pt 7"};
  Series e32{.title = "float32", .with = "linespoints lw 2 pt 5"};
  for (int k = 1; k <= 13; ++k) {
    const double step = std::pow(10.0, -k);
    for (auto [series, dtype] : {std::pair{&e64, DType::F64}, std::pair{&e32, DType::F32}}) {
      const double num = (neuron_tensor(0.5 + step, dtype) - neuron_tensor(0.5 - step, dtype)) / (2 * step);
      series->x.push_back(step);
      series->y.push_back(std::max(std::abs(num - w1->grad), 1e-17));  // exact zeros drawn at 1e-17
    }
  }
  for (size_t i = 0; i < e64.x.size(); ++i)
    fmt::print("h = {:.0e}: error float64 {:.1e}, float32 {:.1e}\n", e64.x[i], e64.y[i], e32.y[i]);
  save_figure(args.out, "t02_fd_error",
              Figure{.panels = {Chart{.title = "central difference error of dL/dw1",
                                      .xlabel = "step h",
                                      .ylabel = "|numeric - backward()|",
                                      .series = {e64, e32},
                                      .logx = true,
                                      .logy = true,
                                      .key = "bottom left",
                                      .extra = "set format x \"10^{%L}\"\nset format y \"10^{%L}\""}}});

  heading("6. Gradient descent with the tensor engine");
  // Fit y = sin(3x) on [-1, 1] with a 1-32-1 tanh network, by plain gradient descent.
  const int64_t n = 64, hidden = 32;
  const int64_t steps = args.quick ? 200 : 3000;
  std::vector<double> xs = linspace(-1.0, 1.0, static_cast<int>(n)), ys;
  for (double v : xs) ys.push_back(std::sin(3.0 * v));
  const Tensor X = Tensor::from_vector(xs, {n, 1}), Y = Tensor::from_vector(ys, {n, 1});
  //! [descent]
  Variable W1(gen.normal({1, hidden}), true), b1(Tensor::zeros({hidden}), true);
  Variable W2(gen.normal({hidden, 1}, 0.0, 1.0 / std::sqrt(hidden)), true), b2(Tensor::zeros({1}), true);
  const auto predict = [&](const Tensor& x) { return matmul(tanh(matmul(Variable(x), W1) + b1), W2) + b2; };
  const double lr = 0.1;
  std::vector<double> losses;
  std::vector<std::pair<int64_t, std::vector<double>>> snapshots;  // (step, prediction before it)
  EnableGradGuard enable_grad;  // record the graph even if a caller opened a NoGradGuard
  for (int64_t step = 0; step < steps; ++step) {
    Variable loss = mean(square(predict(X) - Variable(Y)));  // mean squared error over the 64 points
    losses.push_back(loss.item());
    if (step == 0 || step == steps / 20) snapshots.emplace_back(step, predict(X).value().to_vector());
    for (Variable* p : {&W1, &b1, &W2, &b2}) p->zero_grad();
    loss.backward();
    for (Variable* p : {&W1, &b1, &W2, &b2}) add_(p->mutable_value(), p->grad(), -lr);  // p -= lr * dL/dp
    if (step % (steps / 10) == 0 || step == steps - 1) fmt::print("step {:>5}: loss {:.5f}\n", step, loss.item());
  }
  //! [descent]
  Chart fit{.title = fmt::format("a 1-{}-1 tanh network fitting sin(3x)", hidden),
            .xlabel = "x",
            .ylabel = "y",
            .key = "bottom right"};
  fit.series.push_back({.title = "data", .x = xs, .y = ys, .with = "points pt 7 ps 0.6", .color = "#555555"});
  const std::vector<std::string> colours = {"#9ecae1", "#4292c6"};
  for (size_t i = 0; i < snapshots.size(); ++i)
    fit.series.push_back(
        {.title = fmt::format("step {}", snapshots[i].first), .x = xs, .y = snapshots[i].second, .color = colours[i]});
  fit.series.push_back(
      {.title = fmt::format("step {}", steps), .x = xs, .y = predict(X).value().to_vector(), .color = "#d62728"});
  std::vector<double> step_axis(losses.size());
  for (size_t i = 0; i < losses.size(); ++i) step_axis[i] = static_cast<double>(i);
  Chart loss_chart{.title = "mean squared error",
                   .xlabel = "gradient descent step",
                   .ylabel = "loss",
                   .series = {Series{.title = "", .x = step_axis, .y = losses, .color = "#d62728"}},
                   .logy = true};
  save_figure(args.out, "t02_fit", Figure{.panels = {fit, loss_chart}, .columns = 2, .width = 1000, .height = 380});
  fmt::print("\nfigures: t02_fd_error.png t02_fit.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_02_autodiff", argc, argv, [&] { return tutorial_main(argc, argv); });
}
