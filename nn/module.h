/// \file
/// \brief `Module`, the base of every layer and model, and `ModuleList`, a numbered list of child modules.
///
/// A module owns *parameters* (leaf Variables with `requires_grad = true`) and *child modules*.
/// Both are registered by name in the derived class's constructor, which gives every parameter
/// a dotted path, exactly as PyTorch's `named_parameters()` would print it:
///
///     down.0.conv1.weight   blocks.3.self_attn.in_proj_weight   time_mlp.0.bias
///
/// Order: a module lists its own parameters first (in registration order), then each child's,
/// depth first, children in registration order. This is PyTorch's order (it walks
/// `named_modules()` and lists each module's `_parameters`), so state dicts line up name for name.
///
/// Parameters are held as `Variable`s, whose copies share state: the vector returned by
/// `parameters()` aliases the module's own, so an optimizer that updates
/// `p.mutable_value()` in place updates the module. Never *reassign* a registered member
/// (`weight = Variable(...)`): the registry would keep the old one. Copy values in place
/// instead (`weight.mutable_value().copy_(t)`).
///
/// Children are typed members of the derived class, registered by reference; a Module is
/// neither copyable nor movable, so those references stay valid. `ModuleList<M>` owns its
/// children (through `std::unique_ptr`) and names them "0", "1", ... like `nn.ModuleList`.
///
/// Usage:
/// \code
///   class Block : public Module {
///    public:
///     Block(int64_t d, Generator& gen) : linear1({d, 4 * d}, gen), linear2({4 * d, d}, gen) {
///       register_module("linear1", linear1);
///       register_module("linear2", linear2);
///       scale = register_parameter("scale", Tensor::ones({d}));
///     }
///     Linear linear1, linear2;
///     Variable scale;
///   };
///   ModuleList<Block> blocks;            // in a parent: register_module("blocks", blocks);
///   blocks.push_back(std::make_unique<Block>(64, gen));
///   // named_parameters(): "blocks.0.scale", "blocks.0.linear1.weight", "blocks.0.linear1.bias", ...
/// \endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"

namespace tinydiff {

/// Base class of layers and models: a registry of named parameters and child modules.
class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Every parameter with its dotted path, own parameters first, then children depth first
  /// (PyTorch's order). The Variables share state with the module's.
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  /// The Variables of named_parameters(), same order.
  std::vector<Variable> parameters() const;
  /// Total number of parameter elements (PyTorch: `sum(p.numel() for p in m.parameters())`).
  int64_t parameter_count() const;

  /// This module's direct children with their names, in registration order.
  std::vector<std::pair<std::string, Module*>> named_children() const;
  /// This module (name "") and every descendant with its dotted path, depth first (pre-order).
  std::vector<std::pair<std::string, const Module*>> named_modules() const;

  /// Sets training mode on this module and every descendant (affects Dropout).
  void train(bool on = true);
  /// Same as train(false).
  void eval() { train(false); }
  /// True in training mode (the default for a new module).
  bool is_training() const { return training_; }

  /// Clears the gradient of every parameter (PyTorch's `zero_grad(set_to_none=True)`).
  void zero_grad();

  /// Converts every parameter's value to `dtype` (float32 or float64), recursively, and clears
  /// the gradients (PyTorch's `module.to(dtype)`; float64 for gradcheck). Every copy of a
  /// parameter Variable sees the new value, since copies share state.
  void to(DType dtype);

 protected:
  /// Registers a leaf parameter holding `value`, with `requires_grad = true`, and returns it;
  /// assign the result to a typed `Variable` member (the two share state). The reference stays
  /// valid for the module's lifetime. Throws on an empty name, a name with '.', a duplicate name,
  /// an undefined or an int64 tensor.
  Variable& register_parameter(const std::string& name, Tensor value);
  /// Registers `child`, a typed member of the derived class (or an object the derived class
  /// owns and keeps alive as long as itself). Same name rules as register_parameter.
  void register_module(const std::string& name, Module& child);

 private:
  void check_new_name(const std::string& name, const char* op) const;
  void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable>>& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, const Module*>>& out) const;

  // A deque keeps references from register_parameter valid as more parameters are added.
  std::deque<std::pair<std::string, Variable>> parameters_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

/// A list of owned child modules of type `M`, named "0", "1", ... (PyTorch's `nn.ModuleList`).
/// Iteration yields `std::unique_ptr<M>`s: `for (auto& block : blocks) x = block->forward(x);`.
template <typename M>
class ModuleList : public Module {
 public:
  ModuleList() = default;

  /// Appends `module` (taking ownership), registers it as child `size()`, and returns it.
  M& push_back(std::unique_ptr<M> module) {
    TD_CHECK(module != nullptr, "ModuleList::push_back", "got a null module");
    M& ref = *module;
    register_module(std::to_string(items_.size()), ref);
    items_.push_back(std::move(module));
    return ref;
  }
  /// Constructs an `M` from `args` in place and appends it (see push_back).
  template <typename... Args>
  M& emplace_back(Args&&... args) {
    return push_back(std::make_unique<M>(std::forward<Args>(args)...));
  }

  /// The i-th module; throws when `i >= size()`.
  M& operator[](size_t i) const {
    TD_CHECK(i < items_.size(), "ModuleList",
             "index " + std::to_string(i) + " out of range for a list of " + std::to_string(items_.size()));
    return *items_[i];
  }
  /// Number of modules.
  size_t size() const { return items_.size(); }
  /// True when the list is empty.
  bool empty() const { return items_.empty(); }
  /// Iterator over the owning pointers, in order.
  auto begin() const { return items_.begin(); }
  /// End iterator.
  auto end() const { return items_.end(); }

 private:
  std::vector<std::unique_ptr<M>> items_;
};

}  // namespace tinydiff
