/// \file
/// \brief Activation layers `SiLU` and `GELU`, and the `Dropout` layer (PyTorch's `nn.SiLU`,
/// `nn.GELU`, `nn.Dropout`). None has parameters.
///
/// - SiLU / swish (Elfwing et al. 2018): \f$\mathrm{silu}(x) = x\,\sigma(x)\f$.
/// - GELU (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units"), exact by default:
///   \f$x\,\Phi(x) = \tfrac{x}{2}(1 + \mathrm{erf}(x/\sqrt 2))\f$; with
///   `approximate = GeluApproximation::Tanh`, PyTorch's `approximate='tanh'`:
///   \f$\tfrac{x}{2}\left(1 + \tanh\!\left(\sqrt{2/\pi}\,(x + 0.044715 x^3)\right)\right)\f$.
/// - Dropout (Srivastava et al. 2014), inverted: in training mode each element is zeroed with
///   probability p and the survivors scaled by \f$1/(1-p)\f$; in eval mode (`eval()`) the identity.
///   The mask is drawn from the Generator passed to `forward`, so runs replay from a seed.
///
/// Usage:
/// \code
///   GELU gelu;                                                  // exact (erf)
///   GELU gelu_fast({.approximate = GeluApproximation::Tanh});
///   Dropout drop({.p = 0.1});
///   Variable h = drop.forward(gelu.forward(x), gen);            // identity after drop.eval()
/// \endcode
#pragma once

#include "nn/module.h"
#include "tensor/random.h"

namespace tinydiff {

/// \f$x\,\sigma(x)\f$, elementwise.
class SiLU : public Module {
 public:
  /// x: any shape -> same shape.
  Variable forward(const Variable& x) const;
};

/// Which GELU formula to use (PyTorch's `approximate='none'` or `'tanh'`).
enum class GeluApproximation {
  Erf,   ///< the exact \f$x\,\Phi(x)\f$ (PyTorch's default, 'none')
  Tanh,  ///< the tanh approximation
};

/// Options of GELU.
struct GELUOptions {
  GeluApproximation approximate = GeluApproximation::Erf;  ///< formula; exact by default
};

/// Gaussian error linear unit, elementwise.
class GELU : public Module {
 public:
  /// Makes the layer with the given formula (exact by default).
  explicit GELU(const GELUOptions& options = {}) : options_(options) {}
  /// x: any shape -> same shape.
  Variable forward(const Variable& x) const;
  /// The options given at construction.
  const GELUOptions& options() const { return options_; }

 private:
  GELUOptions options_;
};

/// Options of Dropout.
struct DropoutOptions {
  double p = 0.5;  ///< probability of zeroing an element, in [0, 1]
};

/// Inverted dropout; the identity in eval mode or with p = 0.
class Dropout : public Module {
 public:
  /// Makes the layer; throws when p is outside [0, 1].
  explicit Dropout(const DropoutOptions& options = {});
  /// x: any shape -> same shape. Draws the mask from `gen` in training mode (when p > 0).
  Variable forward(const Variable& x, Generator& gen) const;
  /// The options given at construction.
  const DropoutOptions& options() const { return options_; }

 private:
  DropoutOptions options_;
};

}  // namespace tinydiff
