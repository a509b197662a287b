/// \file
/// \brief `Variable`, `Node` and `backward()`: define-by-run reverse-mode automatic differentiation.
///
/// A Variable wraps a Tensor value. Every differentiable op (see autograd/ops_*.h) computes
/// its output with the tensor library and, when an input requires a gradient, records a
/// `Node` holding the op's backward function and edges to its inputs' nodes. The nodes
/// form a graph from the loss back to the leaves (parameters and inputs made with
/// `requires_grad = true`).
///
/// `loss.backward()` walks that graph once in reverse topological order. With
/// \f$\bar v = \partial L / \partial v\f$ (the "adjoint"), each node turns the adjoint of its
/// output into adjoints of its inputs (the chain rule,
/// \f$\bar x_i = \sum_j \bar y_j \,\partial y_j / \partial x_i\f$), and adjoints arriving along
/// several paths are summed. Leaves accumulate into `grad()`; call `zero_grad()` between steps.
///
/// The graph is freed as backward runs (each node drops its saved tensors), so a second
/// backward through the same graph throws unless the first passed `retain_graph = true`.
/// Inside a `NoGradGuard` no graph is recorded and no inputs are saved (sampling, evaluation);
/// an `EnableGradGuard` turns recording back on for its scope (training loops open one).
///
/// Usage:
/// \code
///   Variable w(Tensor::ones({3, 1}), true);              // leaf, requires_grad
///   Variable x(Tensor::from_vector({1, 2, 3}, {1, 3}));
///   Variable loss = sum(matmul(x, w));
///   loss.backward();                                      // w.grad() == x^T
/// \endcode
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

struct Node;
struct VariableImpl;

/// A tensor value in the computation graph, with an optional gradient.
/// Copies share state (like a shared_ptr), as PyTorch tensors do.
class Variable {
 public:
  /// An undefined variable.
  Variable() = default;
  /// A leaf wrapping `value`; `requires_grad` makes backward() accumulate into grad().
  explicit Variable(Tensor value, bool requires_grad = false);

  /// False for a default-constructed variable.
  bool defined() const noexcept { return impl_ != nullptr; }
  /// The value (forward result). Modifying it in place is allowed only on leaves (optimizers).
  const Tensor& value() const;
  /// The value, writable in place (optimizer steps on leaves).
  Tensor& mutable_value();
  /// The accumulated gradient; undefined until a backward() reaches this leaf.
  const Tensor& grad() const;
  /// True once a gradient has been accumulated (or set) and not cleared.
  bool has_grad() const;
  /// Replaces the gradient (e.g. after clipping).
  void set_grad(Tensor g);
  /// Clears the gradient (it becomes undefined; the next backward starts from zero).
  void zero_grad();

  /// True when backward() computes a gradient for this variable (or flows through it).
  bool requires_grad() const;
  /// Only on leaves: make backward() accumulate into this variable.
  void set_requires_grad(bool on);
  /// True when not produced by a recorded op (parameters, inputs, detached values).
  bool is_leaf() const;
  /// A leaf sharing this value, cut from the graph, with requires_grad = false.
  Variable detach() const;
  /// The node that produced this value (nullptr for leaves).
  const std::shared_ptr<Node>& grad_fn() const;

  /// Backpropagates from this scalar (numel 1): d(self)/d(self) = 1.
  void backward(bool retain_graph = false) const;
  /// Backpropagates with an explicit upstream gradient of this variable's shape.
  void backward(const Tensor& grad_output, bool retain_graph = false) const;

  // Shorthands for value() metadata.
  /// value().shape()
  const Shape& shape() const { return value().shape(); }
  /// value().dim()
  int64_t dim() const { return value().dim(); }
  /// value().size(axis)
  int64_t size(int64_t axis) const { return value().size(axis); }
  /// value().numel()
  int64_t numel() const { return value().numel(); }
  /// value().dtype()
  DType dtype() const { return value().dtype(); }
  /// value().item()
  double item() const { return value().item(); }

  /// Internal: a non-leaf produced by `node`. Used by make_result().
  static Variable from_node(Tensor value, std::shared_ptr<Node> node);
  /// Internal: the node that accumulates gradients into this leaf (created on demand).
  std::shared_ptr<Node> gradient_edge() const;

 private:
  std::shared_ptr<VariableImpl> impl_;
};

/// What a Node is: a recorded operation, or the gradient sink of a leaf.
enum class NodeKind {
  Op,              ///< an op recorded by make_result: calls `backward`
  AccumulateGrad,  ///< a leaf's accumulator: adds the adjoint into the leaf's grad() (see Node::leaf)
};

/// One recorded operation: its backward function and edges to its inputs' nodes.
struct Node {
  /// An op, or a leaf's gradient accumulator (which has no `backward` and no `next`).
  NodeKind kind = NodeKind::Op;
  /// The op's name, used in error messages and the profiler ("conv2d", "add", ...;
  /// "accumulate_grad" for accumulators).
  std::string name;
  /// next[i] is the node that receives the gradient of input i (nullptr: input needs none).
  std::vector<std::shared_ptr<Node>> next;
  /// Maps the output's adjoint to one adjoint per input (an undefined Tensor where
  /// next[i] is nullptr). Captures exactly the tensors the derivative needs.
  std::function<std::vector<Tensor>(const Tensor& grad_output)> backward;
  /// Shape and dtype of the output, to check upstream gradients.
  Shape output_shape;
  /// Dtype of the output.
  DType output_dtype = DType::F32;
  /// Set for leaf accumulators: the leaf whose grad this node accumulates into.
  std::weak_ptr<VariableImpl> leaf;
  /// False once backward has run and released the saved tensors.
  bool alive = true;
};

/// Records an op: returns a Variable holding `value` whose node calls `backward`.
/// When no input requires a gradient, or grad mode is off, no node is made and the
/// backward function (with everything it captured) is dropped at once.
Variable make_result(const char* name, Tensor value, const std::vector<Variable>& inputs,
                     std::function<std::vector<Tensor>(const Tensor& grad_output)> backward);

/// True when input `i` of the op being recorded needs a gradient (helps save less).
bool any_requires_grad(const std::vector<Variable>& inputs);

/// Whether ops record graphs on this thread (true by default).
bool grad_enabled();

/// RAII guard: no graph is recorded while it lives (sampling, evaluation, optimizer steps).
/// The destructor restores the mode that was current when the guard was made (as
/// `torch.no_grad`), so guards nest with each other and with EnableGradGuard.
class NoGradGuard {
 public:
  /// Turns recording off on this thread.
  NoGradGuard();
  /// Restores the previous mode.
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// RAII guard: graphs are recorded while it lives, even inside a NoGradGuard (as
/// `torch.enable_grad`). Every training loop opens one, so that training works whatever mode
/// its caller is in: a program that evaluates under a NoGradGuard can still train a model on
/// the way (tutorial 9 trains a classifier when none is cached). The destructor restores the
/// previous mode.
///
/// \code
///   NoGradGuard no_grad;            // sampling and evaluation from here on
///   ...
///   {
///     EnableGradGuard enable_grad;  // a training step: record the graph, backpropagate
///     Variable loss = ...;
///     loss.backward();
///   }                               // recording off again
/// \endcode
class EnableGradGuard {
 public:
  /// Turns recording on on this thread.
  EnableGradGuard();
  /// Restores the previous mode.
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace tinydiff
