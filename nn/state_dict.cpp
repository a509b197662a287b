// state_dict / load_state_dict: name and shape checks, then copies. See state_dict.h.
#include "nn/state_dict.h"

#include <fmt/format.h>

#include <map>
#include <set>

namespace tinydiff {

NamedTensors state_dict(const Module& module) {
  NamedTensors out;
  for (const auto& [name, p] : module.named_parameters()) out.emplace_back(name, p.value());
  return out;
}

std::vector<std::string> state_dict_problems(const NamedParameters& params, const NamedTensors& tensors, bool strict) {
  std::vector<std::string> problems;
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : tensors) {
    if (!given.emplace(name, &t).second) problems.push_back(fmt::format("duplicate: '{}' appears twice", name));
    if (!t.defined()) problems.push_back(fmt::format("undefined: '{}' has no tensor", name));
  }
  std::set<std::string> known;
  for (const auto& [name, p] : params) {
    known.insert(name);
    const auto it = given.find(name);
    if (it == given.end()) {
      if (strict) problems.push_back(fmt::format("missing: '{}' {}", name, shape_str(p.shape())));
      continue;
    }
    const Tensor& t = *it->second;
    if (t.defined() && t.shape() != p.shape())
      problems.push_back(fmt::format("size mismatch for '{}': the module has {}, the state dict has {}", name,
                                     shape_str(p.shape()), shape_str(t.shape())));
  }
  if (strict)
    for (const auto& [name, t] : tensors)
      if (!known.count(name))
        problems.push_back(fmt::format("unexpected: '{}' {}", name, t.defined() ? shape_str(t.shape()) : "?"));
  return problems;
}

LoadStateDictResult load_state_dict(const NamedParameters& params, const NamedTensors& tensors, bool strict) {
  const std::vector<std::string> problems = state_dict_problems(params, tensors, strict);
  if (!problems.empty()) {
    std::string msg = fmt::format("{} problem{} loading {} tensors into {} parameters:", problems.size(),
                                  problems.size() == 1 ? "" : "s", tensors.size(), params.size());
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error("load_state_dict", msg);
  }
  LoadStateDictResult result;
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : tensors) given.emplace(name, &t);
  std::set<std::string> known;
  for (const auto& [name, p] : params) {
    known.insert(name);
    const auto it = given.find(name);
    if (it == given.end()) {
      result.missing_keys.push_back(name);
      continue;
    }
    Variable v = p;
    v.mutable_value().copy_(*it->second);  // converts the dtype when it differs
  }
  for (const auto& [name, t] : tensors)
    if (!known.count(name)) result.unexpected_keys.push_back(name);
  return result;
}

LoadStateDictResult load_state_dict(Module& module, const NamedTensors& tensors, bool strict) {
  return load_state_dict(module.named_parameters(), tensors, strict);
}

NamedTensors strip_prefix(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, t] : tensors)
    if (name.size() >= prefix.size() && name.compare(0, prefix.size(), prefix) == 0)
      out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

NamedTensors add_prefix(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  out.reserve(tensors.size());
  for (const auto& [name, t] : tensors) out.emplace_back(prefix + name, t);
  return out;
}

}  // namespace tinydiff
