/// \file
/// \brief `Sequential`, a chain of modules applied one after another (PyTorch's `nn.Sequential`).
///
/// \f$y = f_{n-1}(\dots f_1(f_0(x)))\f$. Any module with a single-input forward,
/// `Variable forward(const Variable&) const`, can be appended (Linear, Conv2d, GroupNorm,
/// LayerNorm, SiLU, GELU, another Sequential, ...); the concept `UnaryModule` checks this at
/// compile time. The children are owned and named "0", "1", ... as in PyTorch, so
/// `time_mlp.0.weight` is the weight of the first layer of a Sequential named `time_mlp`.
///
/// Usage:
/// \code
///   Sequential mlp;
///   mlp.emplace_back<Linear>(LinearOptions{.in_features = 64, .out_features = 256}, gen);
///   mlp.emplace_back<SiLU>();
///   mlp.emplace_back<Linear>(LinearOptions{.in_features = 256, .out_features = 256}, gen);
///   Variable y = mlp.forward(x);    // parameters "0.weight", "0.bias", "2.weight", "2.bias"
/// \endcode
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace tinydiff {

/// A Module whose forward takes one Variable and returns one.
template <typename M>
concept UnaryModule = std::derived_from<M, Module> && requires(const M& m, const Variable& x) {
  { m.forward(x) } -> std::convertible_to<Variable>;
};

/// Modules applied in order; owns them.
class Sequential : public Module {
 public:
  Sequential() = default;

  /// Appends `module` (taking ownership) as child `size()` and returns it.
  template <UnaryModule M>
  M& push_back(std::unique_ptr<M> module) {
    TD_CHECK(module != nullptr, "Sequential::push_back", "got a null module");
    M* raw = module.get();
    register_module(std::to_string(modules_.size()), *raw);
    steps_.emplace_back([raw](const Variable& x) { return raw->forward(x); });
    modules_.push_back(std::move(module));
    return *raw;
  }
  /// Constructs an `M` from `args` in place and appends it (see push_back).
  template <UnaryModule M, typename... Args>
  M& emplace_back(Args&&... args) {
    return push_back(std::make_unique<M>(std::forward<Args>(args)...));
  }

  /// Applies every module in order; the identity when empty.
  Variable forward(const Variable& x) const;

  /// Number of modules.
  size_t size() const { return modules_.size(); }
  /// The i-th module (as a Module; cast with dynamic_cast for its type). Throws when out of range.
  Module& operator[](size_t i) const;

 private:
  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<std::function<Variable(const Variable&)>> steps_;
};

}  // namespace tinydiff
