/// \file
/// \brief `ModuleDict`, child modules registered under chosen names (PyTorch's `nn.ModuleDict`).
///
/// `ModuleList` (module.h) names its children by position, "0", "1", ...; a `ModuleDict<M>` names
/// each child by a key given when it is inserted. That lets a model hold a module for only some
/// positions and still carry PyTorch's names: the U-Net (diffusion/models/unet.h) has an attention
/// block only at some resolution levels, keyed by the level, so its parameters are named
/// `up_attn.2.cross.q_proj_weight` as in the PyTorch peer. Children are registered, and so listed
/// by named_parameters() and state dicts, in insertion order (as in PyTorch), not in key order.
///
/// Usage:
/// \code
///   ModuleDict<Linear> heads;                  // in a parent: register_module("heads", heads);
///   heads.insert("2", std::make_unique<Linear>(LinearOptions{64, 10}, gen));
///   if (const Linear* head = heads.find("2")) y = head->forward(x);   // parameters "2.weight", "2.bias"
/// \endcode
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "nn/module.h"

namespace tinydiff {

/// Owned child modules of type `M`, each registered under its key (PyTorch's `nn.ModuleDict`).
template <typename M>
class ModuleDict : public Module {
 public:
  ModuleDict() = default;

  /// Adds `module` (taking ownership) as the child named `key` and returns it. Throws Error for a
  /// null module and, as register_module does, for an empty key, a key with '.' or a key already used.
  M& insert(const std::string& key, std::unique_ptr<M> module) {
    TD_CHECK(module != nullptr, "ModuleDict::insert", "got a null module for key '" + key + "'");
    M& ref = *module;
    register_module(key, ref);
    items_[key] = std::move(module);
    return ref;
  }
  /// The module under `key`, or nullptr when there is none.
  const M* find(const std::string& key) const {
    const auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second.get();
  }
  /// The module under `key`, or nullptr when there is none.
  M* find(const std::string& key) {
    const auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second.get();
  }
  /// Number of modules.
  size_t size() const { return items_.size(); }
  /// True when the dict holds no module.
  bool empty() const { return items_.empty(); }

 private:
  std::map<std::string, std::unique_ptr<M>> items_;
};

}  // namespace tinydiff
