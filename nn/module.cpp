// Module: the registry of named parameters and children. See module.h.
#include "nn/module.h"

#include <fmt/format.h>

namespace tinydiff {

void Module::check_new_name(const std::string& name, const char* op) const {
  TD_CHECK(!name.empty(), op, "the name is empty; give the parameter or module a name such as \"weight\"");
  TD_CHECK(name.find('.') == std::string::npos, op,
           fmt::format("name \"{}\" contains '.', which separates path components; use '_'", name));
  for (const auto& [n, p] : parameters_) {
    TD_CHECK(n != name, op, fmt::format("a parameter named \"{}\" is already registered", name));
  }
  for (const auto& [n, c] : children_) {
    TD_CHECK(n != name, op, fmt::format("a child module named \"{}\" is already registered", name));
  }
}

Variable& Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name, "register_parameter");
  TD_CHECK(value.defined(), "register_parameter", fmt::format("parameter \"{}\" has an undefined tensor", name));
  TD_CHECK(value.dtype() != DType::I64, "register_parameter",
           fmt::format("parameter \"{}\" is int64; parameters must be float32 or float64", name));
  parameters_.emplace_back(name, Variable(std::move(value), true));
  return parameters_.back().second;
}

void Module::register_module(const std::string& name, Module& child) {
  check_new_name(name, "register_module");
  TD_CHECK(&child != this, "register_module", fmt::format("module \"{}\" cannot be its own child", name));
  children_.emplace_back(name, &child);
}

void Module::collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable>>& out) const {
  for (const auto& [name, p] : parameters_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect_parameters("", out);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const { return children_; }

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, const Module*>>& out) const {
  out.emplace_back(prefix, this);
  for (const auto& [name, child] : children_) child->collect_modules(prefix.empty() ? name : prefix + "." + name, out);
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  collect_modules("", out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, p] : parameters_) p.zero_grad();
  for (auto& [name, child] : children_) child->zero_grad();
}

void Module::to(DType dtype) {
  TD_CHECK(dtype != DType::I64, "Module::to", "parameters must be float32 or float64, got int64");
  for (auto& [name, p] : named_parameters()) {
    p.mutable_value() = p.value().to(dtype);
    p.zero_grad();
  }
}

}  // namespace tinydiff
