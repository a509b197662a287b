// SGD and AdamW: fused per-parameter update loops and state export. See optim.h.
#include "nn/optim.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <type_traits>

#include "tensor/dispatch.h"

namespace tinydiff {
namespace {

// Runs `update(value)` on a contiguous version of `value` and writes the result back when
// the parameter itself is a non-contiguous view (parameters made by Module are contiguous).
template <typename F>
void update_in_place(Tensor& value, F&& update) {
  if (value.is_contiguous()) {
    update(value);
    return;
  }
  Tensor work = value.clone();
  update(work);
  value.copy_(work);
}

// The tensors under `prefix` by stripped name; duplicate names are problems.
std::map<std::string, const Tensor*> collect(const NamedTensors& tensors, const std::string& prefix,
                                             std::vector<std::string>& problems) {
  std::map<std::string, const Tensor*> out;
  for (const auto& [name, t] : tensors) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!out.emplace(name.substr(prefix.size()), &t).second)
      problems.push_back(fmt::format("duplicate: '{}' appears twice", name));
  }
  return out;
}

// Checks a 0-d int64 step tensor holding a value in [`min`, 2^53]: exact as a double (the bias
// corrections use it as one) and far from overflowing the next ++step (found by the fuzz harness:
// INT64_MAX loaded and overflowed in the next step()).
void check_step_tensor(const std::string& full_name, const Tensor& t, int64_t min, std::vector<std::string>& problems) {
  if (!t.defined() || t.dtype() != DType::I64 || t.dim() != 0) {
    problems.push_back(fmt::format(
        "'{}' must be a 0-d int64 tensor, got {}", full_name,
        t.defined() ? fmt::format("{} {}", shape_str(t.shape()), dtype_name(t.dtype())) : std::string("undefined")));
    return;
  }
  constexpr int64_t kMaxStep = int64_t{1} << 53;
  const int64_t v = t.data<int64_t>()[0];
  if (v < min || v > kMaxStep)
    problems.push_back(fmt::format("'{}' is {}, expected a count in [{}, 2^53]", full_name, v, min));
}

// Checks a state buffer against its parameter's shape (floating dtype; converted on load).
void check_buffer(const std::string& full_name, const Tensor& t, const Variable& p,
                  std::vector<std::string>& problems) {
  if (!t.defined() || t.dtype() == DType::I64) {
    problems.push_back(fmt::format("'{}' must be a float32 or float64 tensor", full_name));
    return;
  }
  if (t.shape() != p.shape())
    problems.push_back(fmt::format("size mismatch for '{}': the parameter has {}, the state has {}", full_name,
                                   shape_str(p.shape()), shape_str(t.shape())));
}

void throw_problems(const char* op, const std::vector<std::string>& problems) {
  std::string msg =
      fmt::format("{} problem{} in the optimizer state:", problems.size(), problems.size() == 1 ? "" : "s");
  for (const auto& p : problems) msg += "\n  " + p;
  throw Error(op, msg);
}

// A copy of `src` in `like`'s dtype and layout.
Tensor converted_copy(const Tensor& src, const Tensor& like) {
  Tensor out = Tensor::empty(like.shape(), like.dtype());
  out.copy_(src);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Variable>> number_parameters(const std::vector<Variable>& params) {
  std::vector<std::pair<std::string, Variable>> out;
  out.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) out.emplace_back(std::to_string(i), params[i]);
  return out;
}

// ---------------------------------------------------------------------------------------
// Optimizer

Optimizer::Optimizer(std::vector<std::pair<std::string, Variable>> params, double lr, const char* op)
    : params_(std::move(params)), lr_(lr), op_(op) {
  TD_CHECK(std::isfinite(lr) && lr >= 0.0, op_, fmt::format("learning rate must be finite and >= 0, got {}", lr));
  std::set<std::string> names;
  for (const auto& [name, p] : params_) {
    TD_CHECK(p.defined(), op_, fmt::format("parameter '{}' is undefined", name));
    TD_CHECK(p.dtype() != DType::I64, op_, fmt::format("parameter '{}' is int64; expected float32 or float64", name));
    TD_CHECK(names.insert(name).second, op_, fmt::format("two parameters are named '{}'", name));
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  TD_CHECK(std::isfinite(lr) && lr >= 0.0, op_, fmt::format("learning rate must be finite and >= 0, got {}", lr));
  lr_ = lr;
}

void Optimizer::check_grad(const std::string& name, const Variable& p) const {
  const Tensor& g = p.grad();
  TD_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype(), op_,
           fmt::format("gradient of '{}' is {} {} but the parameter is {} {}", name, shape_str(g.shape()),
                       dtype_name(g.dtype()), shape_str(p.shape()), dtype_name(p.dtype())));
}

// ---------------------------------------------------------------------------------------
// SGD

SGD::SGD(const std::vector<Variable>& params, SGDOptions options) : SGD(number_parameters(params), options) {}

SGD::SGD(std::vector<std::pair<std::string, Variable>> params, SGDOptions options)
    : Optimizer(std::move(params), options.lr, "SGD"), options_(options), momentum_(params_.size()) {
  TD_CHECK(options.momentum >= 0.0, "SGD", fmt::format("momentum must be >= 0, got {}", options.momentum));
  TD_CHECK(options.weight_decay >= 0.0, "SGD", fmt::format("weight_decay must be >= 0, got {}", options.weight_decay));
  TD_CHECK(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0), "SGD",
           "Nesterov momentum requires momentum > 0 and dampening 0 (as in PyTorch)");
}

void SGD::step() {
  NoGradGuard no_grad;
  const double mu = options_.momentum, wd = options_.weight_decay;
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = params_[i].second;
    if (!p.has_grad()) continue;
    check_grad(params_[i].first, p);
    const Tensor g = p.grad().contiguous();
    const bool first = mu != 0.0 && !momentum_[i].defined();
    if (first) momentum_[i] = Tensor::empty(p.shape(), p.dtype());
    update_in_place(p.mutable_value(), [&](Tensor& value) {
      dispatch_floating(value.dtype(), "SGD", [&](auto tag) {
        using T = decltype(tag);
        T* pp = value.data<T>();
        const T* pg = g.data<T>();
        T* pb = mu != 0.0 ? momentum_[i].data<T>() : nullptr;
        // Scalars in T, as PyTorch casts them for a T tensor.
        const T wd_t = static_cast<T>(wd), mu_t = static_cast<T>(mu);
        const T keep = static_cast<T>(1.0 - options_.dampening), neg_lr = static_cast<T>(-lr_);
        const bool nesterov = options_.nesterov;
        parallel_for(value.numel(), 8, [&](int64_t begin, int64_t end) {
          for (int64_t j = begin; j < end; ++j) {
            T d = pg[j];
            if (wd != 0.0) d = d + wd_t * pp[j];  // d = g + wd * p
            if (pb != nullptr) {
              pb[j] = first ? d : pb[j] * mu_t + keep * d;  // b = mu * b + (1 - dampening) * d
              d = nesterov ? d + mu_t * pb[j] : pb[j];
            }
            pp[j] = pp[j] + neg_lr * d;  // p -= lr * d
          }
        });
      });
    });
  }
  ++step_count_;
}

NamedTensors SGD::state_tensors(const std::string& prefix) const {
  NamedTensors out;
  out.emplace_back(prefix + "step", Tensor::from_indices({step_count_}, {}));
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_[i].defined()) out.emplace_back(prefix + params_[i].first + ".momentum_buffer", momentum_[i].clone());
  return out;
}

std::vector<std::string> SGD::state_problems(const NamedTensors& tensors, const std::string& prefix) const {
  std::vector<std::string> problems;
  auto given = collect(tensors, prefix, problems);
  const auto step = given.find("step");
  if (step == given.end())
    problems.push_back(fmt::format("missing: '{}step'", prefix));
  else
    check_step_tensor(prefix + "step", *step->second, 0, problems);
  std::set<std::string> known = {"step"};
  for (const auto& [name, p] : params_) {
    const std::string key = name + ".momentum_buffer";
    known.insert(key);
    const auto it = given.find(key);
    if (it == given.end()) continue;
    if (options_.momentum == 0.0)
      problems.push_back(fmt::format("unexpected: '{}{}' (momentum is 0)", prefix, key));
    else
      check_buffer(prefix + key, *it->second, p, problems);
  }
  for (const auto& [key, t] : given)
    if (!known.count(key)) problems.push_back(fmt::format("unexpected: '{}{}'", prefix, key));
  return problems;
}

void SGD::load_state_tensors(const NamedTensors& tensors, const std::string& prefix) {
  const auto problems = state_problems(tensors, prefix);
  if (!problems.empty()) throw_problems("SGD::load_state_tensors", problems);
  std::vector<std::string> ignored;
  auto given = collect(tensors, prefix, ignored);
  step_count_ = given.at("step")->data<int64_t>()[0];
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto it = given.find(params_[i].first + ".momentum_buffer");
    momentum_[i] = it == given.end() ? Tensor() : converted_copy(*it->second, params_[i].second.value());
  }
}

// ---------------------------------------------------------------------------------------
// AdamW

AdamW::AdamW(const std::vector<Variable>& params, AdamWOptions options) : AdamW(number_parameters(params), options) {}

AdamW::AdamW(std::vector<std::pair<std::string, Variable>> params, AdamWOptions options)
    : Optimizer(std::move(params), options.lr, "AdamW"), options_(options), state_(params_.size()) {
  TD_CHECK(options.beta1 >= 0.0 && options.beta1 < 1.0 && options.beta2 >= 0.0 && options.beta2 < 1.0, "AdamW",
           fmt::format("betas must be in [0, 1), got ({}, {})", options.beta1, options.beta2));
  TD_CHECK(options.eps >= 0.0, "AdamW", fmt::format("eps must be >= 0, got {}", options.eps));
  TD_CHECK(options.weight_decay >= 0.0, "AdamW",
           fmt::format("weight_decay must be >= 0, got {}", options.weight_decay));
}

namespace {
// One parameter's AdamW update, with the scalars already cast to T (see AdamW::step).
template <typename T>
struct AdamWJob {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n;
  T decay, b1, one_minus_b1, b2, one_minus_b2, neg_step_size, bc2_sqrt, eps;

  void run(int64_t begin, int64_t end) const {
    for (int64_t j = begin; j < end; ++j) {
      const T gj = g[j];
      const T pj = p[j] * decay;                        // p *= 1 - lr * wd
      const T mj = m[j] * b1 + one_minus_b1 * gj;       // m = b1 m + (1 - b1) g
      const T vj = v[j] * b2 + one_minus_b2 * gj * gj;  // v = b2 v + (1 - b2) g^2
      const T denom = std::sqrt(vj) / bc2_sqrt + eps;   // sqrt(v / bc2) + eps
      m[j] = mj;
      v[j] = vj;
      p[j] = pj + neg_step_size * mj / denom;  // p -= lr / bc1 * m / denom
    }
  }
};

// Runs every job in one parallel loop over the concatenation of their elements (one fork-join
// for the whole model instead of one per parameter). Each element is updated independently, so
// the result does not depend on how the range is split.
template <typename T>
void run_adamw_jobs(const std::vector<AdamWJob<T>>& jobs) {
  std::vector<int64_t> start(jobs.size() + 1, 0);
  for (size_t i = 0; i < jobs.size(); ++i) start[i + 1] = start[i] + jobs[i].n;
  parallel_for(start.back(), 12, [&](int64_t begin, int64_t end) {
    size_t i = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), begin) - start.begin()) - 1;
    for (; i < jobs.size() && start[i] < end; ++i) {
      const int64_t lo = std::max(begin, start[i]) - start[i], hi = std::min(end, start[i + 1]) - start[i];
      jobs[i].run(lo, hi);
    }
  });
}
}  // namespace

void AdamW::step() {
  NoGradGuard no_grad;
  const AdamWOptions& o = options_;
  std::vector<AdamWJob<float>> jobs32;
  std::vector<AdamWJob<double>> jobs64;
  std::vector<Tensor> keep;  // contiguous gradients and work copies of non-contiguous parameters
  std::vector<std::pair<Tensor*, Tensor>> write_back;
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = params_[i].second;
    if (!p.has_grad()) continue;
    check_grad(params_[i].first, p);
    const Tensor g = p.grad().contiguous();
    State& s = state_[i];
    if (s.step == 0) {
      s.exp_avg = Tensor::zeros(p.shape(), p.dtype());
      s.exp_avg_sq = Tensor::zeros(p.shape(), p.dtype());
    }
    s.step += 1;
    // Scalars computed in double, as PyTorch does in Python, then cast to the tensor dtype.
    const double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(s.step));
    const double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(s.step));
    Tensor& value = p.mutable_value();
    Tensor work = value;
    if (!value.is_contiguous()) {  // parameters made by Module are contiguous; views are updated via a copy
      work = value.clone();
      write_back.emplace_back(&value, work);
    }
    keep.push_back(g);
    dispatch_floating(value.dtype(), "AdamW", [&](auto tag) {
      using T = decltype(tag);
      AdamWJob<T> job{work.data<T>(),
                      g.data<T>(),
                      s.exp_avg.data<T>(),
                      s.exp_avg_sq.data<T>(),
                      value.numel(),
                      static_cast<T>(1.0 - lr_ * o.weight_decay),
                      static_cast<T>(o.beta1),
                      static_cast<T>(1.0 - o.beta1),
                      static_cast<T>(o.beta2),
                      static_cast<T>(1.0 - o.beta2),
                      static_cast<T>(-(lr_ / bias_correction1)),
                      static_cast<T>(std::sqrt(bias_correction2)),
                      static_cast<T>(o.eps)};
      if constexpr (std::is_same_v<T, float>)
        jobs32.push_back(job);
      else
        jobs64.push_back(job);
    });
  }
  run_adamw_jobs(jobs32);
  run_adamw_jobs(jobs64);
  for (auto& [value, work] : write_back) value->copy_(work);
  ++step_count_;
}

NamedTensors AdamW::state_tensors(const std::string& prefix) const {
  NamedTensors out;
  out.emplace_back(prefix + "step", Tensor::from_indices({step_count_}, {}));
  for (size_t i = 0; i < params_.size(); ++i) {
    const State& s = state_[i];
    if (s.step == 0) continue;
    const std::string base = prefix + params_[i].first;
    out.emplace_back(base + ".step", Tensor::from_indices({s.step}, {}));
    out.emplace_back(base + ".exp_avg", s.exp_avg.clone());
    out.emplace_back(base + ".exp_avg_sq", s.exp_avg_sq.clone());
  }
  return out;
}

std::vector<std::string> AdamW::state_problems(const NamedTensors& tensors, const std::string& prefix) const {
  std::vector<std::string> problems;
  auto given = collect(tensors, prefix, problems);
  const auto step = given.find("step");
  if (step == given.end())
    problems.push_back(fmt::format("missing: '{}step'", prefix));
  else
    check_step_tensor(prefix + "step", *step->second, 0, problems);
  std::set<std::string> known = {"step"};
  for (const auto& [name, p] : params_) {
    const std::string keys[3] = {name + ".step", name + ".exp_avg", name + ".exp_avg_sq"};
    int present = 0;
    for (const auto& k : keys) {
      known.insert(k);
      present += given.count(k) > 0;
    }
    if (present == 0) continue;  // no state yet for this parameter
    if (present != 3) {
      for (const auto& k : keys)
        if (!given.count(k))
          problems.push_back(fmt::format("missing: '{}{}' (the parameter's other state is present)", prefix, k));
      continue;
    }
    check_step_tensor(prefix + keys[0], *given.at(keys[0]), 1, problems);
    check_buffer(prefix + keys[1], *given.at(keys[1]), p, problems);
    check_buffer(prefix + keys[2], *given.at(keys[2]), p, problems);
  }
  for (const auto& [key, t] : given)
    if (!known.count(key)) problems.push_back(fmt::format("unexpected: '{}{}'", prefix, key));
  return problems;
}

void AdamW::load_state_tensors(const NamedTensors& tensors, const std::string& prefix) {
  const auto problems = state_problems(tensors, prefix);
  if (!problems.empty()) throw_problems("AdamW::load_state_tensors", problems);
  std::vector<std::string> ignored;
  auto given = collect(tensors, prefix, ignored);
  step_count_ = given.at("step")->data<int64_t>()[0];
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].first;
    const Tensor& like = params_[i].second.value();
    State& s = state_[i];
    const auto it = given.find(name + ".step");
    if (it == given.end()) {
      s = State{};
      continue;
    }
    s.step = it->second->data<int64_t>()[0];
    s.exp_avg = converted_copy(*given.at(name + ".exp_avg"), like);
    s.exp_avg_sq = converted_copy(*given.at(name + ".exp_avg_sq"), like);
  }
}

}  // namespace tinydiff
