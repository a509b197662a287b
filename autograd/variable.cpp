// Variable, graph recording and the backward engine. See variable.h.
#include "autograd/variable.h"

#include <fmt/format.h>

#include <unordered_map>

#include "autograd/profiler.h"

namespace tinydiff {

struct VariableImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;      // non-leaves: the op that produced the value
  std::shared_ptr<Node> accumulator;  // leaves: gradient sink, made on first use
};

namespace {
thread_local bool g_grad_enabled = true;

VariableImpl& impl_of(const std::shared_ptr<VariableImpl>& impl, const char* op) {
  TD_CHECK(impl != nullptr, op, "the Variable is undefined (default-constructed); give it a value first");
  return *impl;
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { g_grad_enabled = previous_; }

Variable::Variable(Tensor value, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  check_defined(value, "Variable");
  TD_CHECK(!requires_grad || value.dtype() != DType::I64, "Variable",
           "an int64 tensor cannot require a gradient; only float32/float64 values are differentiable");
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
}

Variable Variable::from_node(Tensor value, std::shared_ptr<Node> node) {
  Variable v(std::move(value), false);
  v.impl_->grad_fn = std::move(node);
  v.impl_->requires_grad = true;
  return v;
}

const Tensor& Variable::value() const { return impl_of(impl_, "value").value; }
Tensor& Variable::mutable_value() { return impl_of(impl_, "mutable_value").value; }
const Tensor& Variable::grad() const { return impl_of(impl_, "grad").grad; }
bool Variable::has_grad() const { return impl_of(impl_, "grad").grad.defined(); }
void Variable::zero_grad() { impl_of(impl_, "zero_grad").grad = Tensor(); }
bool Variable::requires_grad() const { return impl_of(impl_, "requires_grad").requires_grad; }
bool Variable::is_leaf() const { return impl_of(impl_, "is_leaf").grad_fn == nullptr; }
const std::shared_ptr<Node>& Variable::grad_fn() const { return impl_of(impl_, "grad_fn").grad_fn; }

void Variable::set_grad(Tensor g) {
  auto& im = impl_of(impl_, "set_grad");
  TD_CHECK(
      !g.defined() || g.shape() == im.value.shape(), "set_grad",
      fmt::format("gradient of shape {} for a value of shape {}", shape_str(g.shape()), shape_str(im.value.shape())));
  im.grad = std::move(g);
}

void Variable::set_requires_grad(bool on) {
  auto& im = impl_of(impl_, "set_requires_grad");
  TD_CHECK(im.grad_fn == nullptr, "set_requires_grad",
           "only leaves can change requires_grad; call detach() to make a leaf from this value");
  TD_CHECK(!on || im.value.dtype() != DType::I64, "set_requires_grad", "an int64 tensor cannot require a gradient");
  im.requires_grad = on;
}

Variable Variable::detach() const { return Variable(value(), false); }

std::shared_ptr<Node> Variable::gradient_edge() const {
  auto& im = impl_of(impl_, "gradient_edge");
  if (im.grad_fn) return im.grad_fn;
  if (!im.requires_grad) return nullptr;
  if (!im.accumulator) {
    im.accumulator = std::make_shared<Node>();
    im.accumulator->kind = NodeKind::AccumulateGrad;
    im.accumulator->name = "accumulate_grad";
    im.accumulator->output_shape = im.value.shape();
    im.accumulator->output_dtype = im.value.dtype();
    im.accumulator->leaf = impl_;
  }
  return im.accumulator;
}

bool any_requires_grad(const std::vector<Variable>& inputs) {
  for (const auto& v : inputs)
    if (v.defined() && v.requires_grad()) return true;
  return false;
}

Variable make_result(const char* name, Tensor value, const std::vector<Variable>& inputs,
                     std::function<std::vector<Tensor>(const Tensor& grad_output)> backward) {
  if (detail::g_profiling) detail::profile_forward(name);
  if (!g_grad_enabled || !any_requires_grad(inputs)) return Variable(std::move(value), false);
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(backward);
  node->output_shape = value.shape();
  node->output_dtype = value.dtype();
  node->next.reserve(inputs.size());
  for (const auto& v : inputs) node->next.push_back(v.defined() ? v.gradient_edge() : nullptr);
  return Variable::from_node(std::move(value), std::move(node));
}

// ---------------------------------------------------------------------------------------
// The engine. Each step that the profiler times (autograd/profiler.h) is a function below that
// opens a ProfileScope; the loop in backward() is the algorithm alone.

namespace {

// An accumulator node: leaf.grad += g (g undefined: nothing arrived). Timed as the node's name.
void accumulate_into_leaf(const Node& n, VariableImpl& leaf, Tensor g) {
  ProfileScope timed(n.name);
  if (!g.defined()) return;
  if (leaf.grad.defined())
    add_(leaf.grad, g);
  else if (g.storage().use_count() == 1 && g.is_contiguous() && g.offset() == 0)
    leaf.grad = std::move(g);  // nothing else refers to this memory: keep it, no copy
  else
    leaf.grad = g.clone();
}

// An op node: the adjoints of its inputs from the adjoint g of its output. Timed as the op's name.
std::vector<Tensor> run_backward(const Node& n, const Tensor& g) {
  ProfileScope timed(n.name);
  return n.backward(g);
}

// A second adjoint gi reaching the same value: acc += gi. Timed as "engine.accumulate".
void sum_adjoints(Tensor& acc, const Tensor& gi) {
  ProfileScope timed("engine.accumulate");
  // Sum in place when no other tensor refers to acc's memory (a gradient an op returned for
  // two inputs, or a value saved for a backward, must not change).
  if (acc.storage().use_count() == 1 && acc.is_contiguous() && acc.dtype() == gi.dtype())
    add_(acc, gi);
  else
    acc = add(acc, gi);
}

}  // namespace

void Variable::backward(bool retain_graph) const {
  const Tensor& v = value();
  TD_CHECK(v.numel() == 1, "backward",
           fmt::format("called on a value of shape {} without an upstream gradient; backward() needs a scalar "
                       "(reduce with sum() or mean() first) or pass grad_output of shape {}",
                       shape_str(v.shape()), shape_str(v.shape())));
  backward(Tensor::ones(v.shape(), v.dtype()), retain_graph);
}

void Variable::backward(const Tensor& grad_output, bool retain_graph) const {
  auto& im = impl_of(impl_, "backward");
  TD_CHECK(im.requires_grad, "backward",
           "this value does not require a gradient: no input of the computation had requires_grad = true "
           "(or it was computed inside a NoGradGuard: a training step called from there needs an EnableGradGuard)");
  check_defined(grad_output, "backward");
  TD_CHECK(
      grad_output.shape() == im.value.shape() && grad_output.dtype() == im.value.dtype(), "backward",
      fmt::format("upstream gradient has shape {} {}, but the value has shape {} {}", shape_str(grad_output.shape()),
                  dtype_name(grad_output.dtype()), shape_str(im.value.shape()), dtype_name(im.value.dtype())));
  std::shared_ptr<Node> root = gradient_edge();

  // 1. Collect the reachable nodes and count, for each, how many edges point at it.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{root.get()};
  pending[root.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const auto& next : n->next) {
      if (!next) continue;
      auto [it, inserted] = pending.try_emplace(next.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(next.get());
    }
  }

  // 2. Kahn's algorithm: a node runs once all its consumers have sent it their adjoints.
  std::unordered_map<Node*, Tensor> adjoint;
  adjoint[root.get()] = grad_output;
  std::vector<Node*> ready{root.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(adjoint[n]);
    adjoint.erase(n);

    if (n->kind == NodeKind::AccumulateGrad) {
      if (auto leaf = n->leaf.lock()) accumulate_into_leaf(*n, *leaf, std::move(g));  // grad += g
      continue;  // (a leaf that no longer exists takes nothing)
    }
    TD_CHECK(n->alive, "backward",
             fmt::format("trying to backward through the graph a second time (op '{}'): its saved tensors were "
                         "freed by the first backward; pass retain_graph = true to the first call if you need two",
                         n->name));

    std::vector<Tensor> grads;
    if (g.defined()) {
      grads = run_backward(*n, g);
      TD_CHECK(grads.size() == n->next.size(), "backward",
               fmt::format("op '{}' returned {} gradients for {} inputs", n->name, grads.size(), n->next.size()));
    }
    if (!retain_graph) {
      n->backward = nullptr;  // frees everything the op saved
      n->alive = false;
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* next = n->next[i].get();
      if (!next) continue;
      if (i < grads.size() && grads[i].defined()) {
        const Tensor& gi = grads[i];
        TD_CHECK(gi.shape() == next->output_shape, "backward",
                 fmt::format("op '{}' produced a gradient of shape {} for input {} of shape {}", n->name,
                             shape_str(gi.shape()), i, shape_str(next->output_shape)));
        auto it = adjoint.find(next);
        if (it == adjoint.end() || !it->second.defined())
          adjoint[next] = gi;
        else
          sum_adjoints(it->second, gi);  // a second path to the same value
      } else {
        adjoint.try_emplace(next);  // keeps an undefined entry so the node still runs
      }
      if (--pending[next] == 0) ready.push_back(next);
    }
  }
}

}  // namespace tinydiff
