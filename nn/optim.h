/// \file
/// \brief Optimizers: `SGD` (momentum, Nesterov, weight decay) and `AdamW`, with state export for exact resume.
///
/// Both follow PyTorch's `torch.optim` update order exactly (the single-tensor code path of
/// PyTorch 1.13), so a run can be checked number for number against PyTorch. With gradient
/// \f$g_t\f$ of parameter \f$p\f$ at step \f$t = 1, 2, \dots\f$:
///
/// **SGD** (momentum \f$\mu\f$, dampening \f$\tau\f$, weight decay \f$\lambda\f$):
/// \f[ d_t = g_t + \lambda p_{t-1}, \qquad
///     b_1 = d_1, \quad b_t = \mu b_{t-1} + (1 - \tau) d_t, \qquad
///     p_t = p_{t-1} - \eta\, (d_t + \mu b_t \text{ if Nesterov, else } b_t) \f]
/// (without momentum, \f$p_t = p_{t-1} - \eta d_t\f$).
///
/// **AdamW** (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019;
/// Adam: Kingma & Ba, ICLR 2015):
/// \f[ p \leftarrow p\,(1 - \eta\lambda), \quad
///     m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
///     v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \f]
/// \f[ p_t = p - \frac{\eta}{1-\beta_1^t}\;
///     \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}
///   \;=\; p - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}. \f]
/// The decay is *decoupled*: it shrinks the weights directly instead of entering \f$g\f$.
/// With weight_decay 0 this is Adam.
///
/// Each parameter keeps its own step count and state, created at its first step *with* a
/// gradient; parameters whose gradient is undefined are skipped (PyTorch's behaviour), which
/// also freezes them. Each parameter's update is one fused loop over its elements,
/// parallelised with parallel_for; it runs in the parameter's dtype.
///
/// **Exact resume.** `state_tensors(prefix)` exports everything the next step depends on
/// (step counts and moment buffers) as named tensors for a checkpoint;
/// `load_state_tensors` validates them all and restores them. Hyper-parameters (lr, betas,
/// ...) are configuration, not state: pass them again when re-creating the optimizer.
/// State names, for a parameter called `conv.weight` and prefix "optim.":
///
///     optim.step                         int64 ()  number of step() calls
///     optim.conv.weight.step             int64 ()  this parameter's step count (AdamW)
///     optim.conv.weight.exp_avg          m, the parameter's shape and dtype (AdamW)
///     optim.conv.weight.exp_avg_sq       v (AdamW)
///     optim.conv.weight.momentum_buffer  b (SGD with momentum)
///
/// Usage:
/// \code
///   AdamW opt(model.named_parameters(), {.lr = 1e-4, .weight_decay = 0.01});
///   for (int64_t step = 0; step < steps; ++step) {
///     opt.zero_grad();
///     loss(model, batch).backward();
///     clip_grad_norm(model.parameters(), 1.0);
///     opt.set_lr(scheduled_lr(schedule, step));
///     opt.step();
///   }
/// \endcode
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "nn/safetensors.h"

namespace tinydiff {

/// Options of SGD (PyTorch's defaults apart from lr, which PyTorch requires).
struct SGDOptions {
  double lr = 1e-2;           ///< learning rate \f$\eta\f$
  double momentum = 0.0;      ///< \f$\mu\f$; 0 turns momentum off
  double dampening = 0.0;     ///< \f$\tau\f$
  double weight_decay = 0.0;  ///< \f$\lambda\f$, L2 penalty added to the gradient
  bool nesterov = false;      ///< Nesterov momentum (needs momentum > 0, dampening 0)
};

/// Options of AdamW (PyTorch's defaults).
struct AdamWOptions {
  double lr = 1e-3;            ///< learning rate \f$\eta\f$
  double beta1 = 0.9;          ///< decay of the first moment \f$\beta_1\f$
  double beta2 = 0.999;        ///< decay of the second moment \f$\beta_2\f$
  double eps = 1e-8;           ///< \f$\epsilon\f$, added to \f$\sqrt{\hat v}\f$
  double weight_decay = 1e-2;  ///< decoupled decay \f$\lambda\f$
};

/// Base of the optimizers: the parameter list, the learning rate, the step counter.
class Optimizer {
 public:
  /// Named parameters (names are used for state tensors). Throws on undefined, int64 or
  /// duplicate-named parameters.
  explicit Optimizer(std::vector<std::pair<std::string, Variable>> params, double lr, const char* op);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Applies one update to every parameter that has a gradient.
  virtual void step() = 0;
  /// Clears every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
  void zero_grad();
  /// Sets the learning rate used by the next step() (e.g. from scheduled_lr).
  void set_lr(double lr);
  /// The current learning rate.
  double lr() const { return lr_; }
  /// Number of step() calls so far (restored by load_state_tensors).
  int64_t step_count() const { return step_count_; }
  /// The parameters with their names, in construction order.
  const std::vector<std::pair<std::string, Variable>>& named_parameters() const { return params_; }

  /// Every state tensor (see the file comment), names starting with `prefix`. The tensors are
  /// copies: later steps do not change them.
  virtual NamedTensors state_tensors(const std::string& prefix = "") const = 0;
  /// Every problem that loading `tensors` (only those whose names start with `prefix`) would
  /// meet: unknown names, wrong shapes or dtypes, incomplete per-parameter state. Empty when fine.
  virtual std::vector<std::string> state_problems(const NamedTensors& tensors,
                                                  const std::string& prefix = "") const = 0;
  /// Restores the state exported by state_tensors. Checks everything first (state_problems)
  /// and throws one Error listing every problem, leaving the optimizer unchanged. Parameters
  /// with no state in `tensors` start afresh (as before their first step).
  virtual void load_state_tensors(const NamedTensors& tensors, const std::string& prefix = "") = 0;

 protected:
  /// Throws unless `p`'s gradient matches its value in shape and dtype.
  void check_grad(const std::string& name, const Variable& p) const;

  std::vector<std::pair<std::string, Variable>> params_;  ///< the parameters, named
  double lr_;                                             ///< current learning rate
  int64_t step_count_ = 0;                                ///< step() calls so far
  const char* op_;                                        ///< "SGD" or "AdamW", for messages
};

/// Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.
class SGD : public Optimizer {
 public:
  /// Parameters named "0", "1", ... (PyTorch's optimizer state_dict numbering).
  SGD(const std::vector<Variable>& params, SGDOptions options);
  /// Parameters with their module names (state tensors use these names).
  SGD(std::vector<std::pair<std::string, Variable>> params, SGDOptions options);

  void step() override;
  NamedTensors state_tensors(const std::string& prefix = "") const override;
  std::vector<std::string> state_problems(const NamedTensors& tensors, const std::string& prefix = "") const override;
  void load_state_tensors(const NamedTensors& tensors, const std::string& prefix = "") override;

  /// The options (lr is the one given at construction; see lr() for the current one).
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_;  // undefined until the parameter's first step with momentum
};

/// Adam with decoupled weight decay.
class AdamW : public Optimizer {
 public:
  /// Parameters named "0", "1", ...
  AdamW(const std::vector<Variable>& params, AdamWOptions options = {});
  /// Parameters with their module names.
  AdamW(std::vector<std::pair<std::string, Variable>> params, AdamWOptions options = {});

  void step() override;
  NamedTensors state_tensors(const std::string& prefix = "") const override;
  std::vector<std::string> state_problems(const NamedTensors& tensors, const std::string& prefix = "") const override;
  void load_state_tensors(const NamedTensors& tensors, const std::string& prefix = "") override;

  /// The options (lr is the one given at construction; see lr() for the current one).
  const AdamWOptions& options() const { return options_; }

 private:
  struct State {
    int64_t step = 0;  // 0: no state yet
    Tensor exp_avg, exp_avg_sq;
  };
  AdamWOptions options_;
  std::vector<State> state_;
};

/// Names "0", "1", ... for an unnamed parameter list.
std::vector<std::pair<std::string, Variable>> number_parameters(const std::vector<Variable>& params);

}  // namespace tinydiff
