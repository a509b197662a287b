/// \file
/// \brief Differentiable inverted dropout (Srivastava et al. 2014, "Dropout: A Simple Way to
/// Prevent Neural Networks from Overfitting").
///
/// In training each element is kept with probability \f$1 - p\f$ and scaled so the
/// expectation is unchanged:
/// \f[ m_i \sim \mathrm{Bernoulli}(1 - p), \qquad y = x \odot \frac{m}{1 - p}, \qquad
///     \bar x = \bar y \odot \frac{m}{1 - p}. \f]
/// The scaled mask is saved for the backward. When `training` is false or p = 0 the op is the
/// identity and returns `x` itself (no graph node, no random numbers drawn); p = 1 zeros everything.
/// The mask comes from the given Generator, so runs are reproducible from its seed.
///
/// Usage:
/// \code
///   Generator gen(0);
///   Variable h = dropout(x, 0.1, gen, /*training=*/true);
/// \endcode
#pragma once

#include "autograd/variable.h"
#include "tensor/random.h"

namespace tinydiff {

/// Inverted dropout with drop probability `p` in [0, 1]; identity when !training or p == 0.
Variable dropout(const Variable& x, double p, Generator& gen, bool training = true);

}  // namespace tinydiff
