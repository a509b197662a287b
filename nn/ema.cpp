// Exponential moving average of parameters. See ema.h.
#include "nn/ema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "tensor/dispatch.h"

namespace tinydiff {

EMA::EMA(std::vector<std::pair<std::string, Variable>> params, EMAOptions options)
    : params_(std::move(params)), options_(options) {
  TD_CHECK(options.decay >= 0.0 && options.decay <= 1.0, "EMA",
           fmt::format("decay must be in [0, 1], got {}", options.decay));
  std::set<std::string> names;
  for (const auto& [name, p] : params_) {
    TD_CHECK(p.defined() && p.dtype() != DType::I64, "EMA",
             fmt::format("parameter '{}' must be a defined float32 or float64 tensor", name));
    TD_CHECK(names.insert(name).second, "EMA", fmt::format("two parameters are named '{}'", name));
    shadow_.push_back(p.value().clone());
  }
}

double EMA::current_decay() const {
  if (!options_.warmup) return options_.decay;
  const double n = static_cast<double>(num_updates_);
  return std::min(options_.decay, (1.0 + n) / (10.0 + n));
}

void EMA::set_num_updates(int64_t n) {
  TD_CHECK(n >= 0, "EMA::set_num_updates", fmt::format("expected n >= 0, got {}", n));
  num_updates_ = n;
}

void EMA::update() {
  TD_CHECK(!swapped_, "EMA::update", "the model holds the EMA weights (swapped); swap back before updating");
  const double d = current_decay();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor value = params_[i].second.value().contiguous();
    Tensor& s = shadow_[i];
    TD_CHECK(value.shape() == s.shape() && value.dtype() == s.dtype(), "EMA::update",
             fmt::format("parameter '{}' is now {} {} but was {} {}", params_[i].first, shape_str(value.shape()),
                         dtype_name(value.dtype()), shape_str(s.shape()), dtype_name(s.dtype())));
    dispatch_floating(s.dtype(), "EMA::update", [&](auto tag) {
      using T = decltype(tag);
      T* ps = s.data<T>();
      const T* pp = value.data<T>();
      const T w = static_cast<T>(1.0 - d);
      parallel_for(s.numel(), 3, [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) ps[j] += w * (pp[j] - ps[j]);  // s += (1 - d)(p - s)
      });
    });
  }
  ++num_updates_;
}

void EMA::swap() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& live = params_[i].second.mutable_value();
    Tensor& s = shadow_[i];
    TD_CHECK(live.shape() == s.shape() && live.dtype() == s.dtype(), "EMA::swap",
             fmt::format("parameter '{}' is now {} {} but was {} {}", params_[i].first, shape_str(live.shape()),
                         dtype_name(live.dtype()), shape_str(s.shape()), dtype_name(s.dtype())));
    if (live.is_contiguous()) {
      // Byte-wise exchange in place: no allocation.
      char* a = static_cast<char*>(live.raw_data());
      char* b = static_cast<char*>(s.raw_data());
      const int64_t bytes = live.numel() * dtype_size(live.dtype());
      parallel_for(bytes, 1, [&](int64_t lo, int64_t hi) { std::swap_ranges(a + lo, a + hi, b + lo); });
    } else {
      Tensor old = live.clone();
      live.copy_(s);
      s = old;
    }
  }
  swapped_ = !swapped_;
}

void EMA::copy_to(const std::vector<std::pair<std::string, Variable>>& params) const {
  std::map<std::string, Variable> target(params.begin(), params.end());
  std::vector<std::string> problems;
  for (const auto& [name, p] : params_) {
    const auto it = target.find(name);
    if (it == target.end())
      problems.push_back(fmt::format("missing: '{}'", name));
    else if (it->second.shape() != p.shape())
      problems.push_back(fmt::format("size mismatch for '{}': the EMA has {}, the target has {}", name,
                                     shape_str(p.shape()), shape_str(it->second.shape())));
  }
  if (!problems.empty()) {
    std::string msg = "cannot copy the EMA weights:";
    for (const auto& s : problems) msg += "\n  " + s;
    throw Error("EMA::copy_to", msg);
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable v = target.at(params_[i].first);
    v.mutable_value().copy_(swapped_ ? params_[i].second.value() : shadow_[i]);
  }
}

NamedTensors EMA::state_tensors(const std::string& prefix) const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i)
    out.emplace_back(prefix + params_[i].first, (swapped_ ? params_[i].second.value() : shadow_[i]).clone());
  return out;
}

std::vector<std::string> EMA::state_problems(const NamedTensors& tensors, const std::string& prefix) const {
  std::vector<std::string> problems;
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : tensors) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!given.emplace(name.substr(prefix.size()), &t).second)
      problems.push_back(fmt::format("duplicate: '{}' appears twice", name));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].first;
    const auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back(fmt::format("missing: '{}{}' {}", prefix, name, shape_str(shadow_[i].shape())));
      continue;
    }
    const Tensor& t = *it->second;
    if (!t.defined() || t.dtype() == DType::I64)
      problems.push_back(fmt::format("'{}{}' must be a float32 or float64 tensor", prefix, name));
    else if (t.shape() != shadow_[i].shape())
      problems.push_back(fmt::format("size mismatch for '{}{}': the parameter has {}, the EMA state has {}", prefix,
                                     name, shape_str(shadow_[i].shape()), shape_str(t.shape())));
    given.erase(it);
  }
  for (const auto& [name, t] : given) problems.push_back(fmt::format("unexpected: '{}{}'", prefix, name));
  return problems;
}

void EMA::load_state_tensors(const NamedTensors& tensors, const std::string& prefix) {
  TD_CHECK(!swapped_, "EMA::load_state_tensors", "the model holds the EMA weights (swapped); swap back first");
  const auto problems = state_problems(tensors, prefix);
  if (!problems.empty()) {
    std::string msg = fmt::format("{} problem{} in the EMA state:", problems.size(), problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error("EMA::load_state_tensors", msg);
  }
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) given.emplace(name.substr(prefix.size()), &t);
  for (size_t i = 0; i < params_.size(); ++i) shadow_[i].copy_(*given.at(params_[i].first));
}

}  // namespace tinydiff
