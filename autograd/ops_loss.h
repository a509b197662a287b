/// \file
/// \brief Differentiable losses: mean squared error and cross-entropy over class logits.
///
/// Mean squared error over all N elements (PyTorch's `F.mse_loss`, reduction "mean"):
/// \f[ L = \frac1N \sum_i (p_i - t_i)^2, \qquad \bar p = \frac{2}{N}(p - t)\,\bar L, \qquad \bar t = -\bar p. \f]
///
/// Cross-entropy of logits \f$z \in \mathbb{R}^{N \times C}\f$ against class indices
/// \f$t \in \{0..C-1\}^N\f$ (PyTorch's `F.cross_entropy`, reduction "mean"), through a stable
/// log-softmax:
/// \f[ L = -\frac1N \sum_n \log\mathrm{softmax}(z_n)_{t_n}
///       = \frac1N \sum_n \Big(\mathrm{logsumexp}(z_n) - z_{n,t_n}\Big), \qquad
///     \bar z = \frac{\bar L}{N}\left(\mathrm{softmax}(z) - \mathrm{onehot}(t)\right). \f]
/// The forward runs the one row-softmax kernel (`log_softmax`, tensor/softmax.h) and keeps its output
/// \f$\log\mathrm{softmax}(z)\f$ (N, C); the backward exponentiates it. Nothing else is kept.
/// `cross_entropy_naive` composes the same loss from log_softmax, gather and mean (the test oracle).
///
/// Usage:
/// \code
///   Variable l1 = mse_loss(eps_pred, Variable(eps_true));       // noise-prediction objective
///   Variable l2 = cross_entropy(logits, labels);                 // logits: (N, C), labels: (N) int64
///   l2.backward();
/// \endcode
#pragma once

#include "autograd/variable.h"

namespace tinydiff {

/// Mean of \f$(pred - target)^2\f$ over all elements; pred and target have the same shape and
/// dtype. Both may require gradients. Returns a 0-d scalar.
Variable mse_loss(const Variable& pred, const Variable& target);

/// Mean cross-entropy. logits: (N, C) float; target: (N) int64 with values in [0, C).
/// Returns a 0-d scalar; the gradient flows to the logits only.
Variable cross_entropy(const Variable& logits, const Tensor& target);

/// Reference: `-mean(gather(log_softmax_naive(logits, 1), 1, target as (N, 1)))` from elementary
/// ops. Same arguments (targets are not range-checked here). Slow; the test oracle.
Variable cross_entropy_naive(const Variable& logits, const Tensor& target);

}  // namespace tinydiff
