/// \file
/// \brief `clip_grad_norm`: rescale all gradients together so their global L2 norm is at most max_norm.
///
/// As `torch.nn.utils.clip_grad_norm_`: the global norm over every gradient element,
/// \f[ \|g\| = \Bigl(\sum_{p} \sum_i g_{p,i}^2\Bigr)^{1/2}, \f]
/// is computed in double precision; when it exceeds `max_norm` every gradient is multiplied by
/// \f$\mathrm{max\_norm} / (\|g\| + 10^{-6})\f$ (Pascanu et al., "On the difficulty of training
/// recurrent neural networks", ICML 2013). Parameters without a gradient are skipped. The
/// return value is the norm *before* clipping, worth logging: spikes show instability.
///
/// A non-finite norm (a NaN or inf gradient) throws when `error_if_nonfinite` is set;
/// otherwise, as in PyTorch, the gradients are scaled by the non-finite factor (they become
/// NaN or zero) and the caller should check the returned norm and skip the step.
///
/// The sum is taken over fixed blocks of elements and the block sums are added in order, so
/// the result does not depend on the number of threads.
///
/// Usage:
/// \code
///   loss.backward();
///   double norm = clip_grad_norm(model.parameters(), 1.0);
///   if (std::isfinite(norm)) opt.step();
/// \endcode
#pragma once

#include <vector>

#include "autograd/variable.h"

namespace tinydiff {

/// The global L2 norm of the gradients of `params` (those that have one), in double.
double grad_norm(const std::vector<Variable>& params);

/// Scales the gradients in place so their global L2 norm is at most `max_norm` (> 0) and
/// returns the norm before clipping (see the file comment).
double clip_grad_norm(const std::vector<Variable>& params, double max_norm, bool error_if_nonfinite = false);

}  // namespace tinydiff
