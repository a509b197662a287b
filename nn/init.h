/// \file
/// \brief Parameter initialisation, as in `torch.nn.init`: uniform, normal, Xavier/Glorot, Kaiming/He.
///
/// Every function fills a float tensor in place from a `Generator` (the same seed gives the same
/// parameters on every machine and thread count; the values differ from PyTorch's, whose RNG is
/// another). The distributions, bounds and fans are PyTorch's:
///
/// - fans of a weight of shape \f$(\mathrm{out}, \mathrm{in}, k_1, k_2, \dots)\f$:
///   \f$\mathrm{fan_{in}} = \mathrm{in} \prod k_i\f$, \f$\mathrm{fan_{out}} = \mathrm{out} \prod k_i\f$;
/// - Xavier (Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
///   networks", AISTATS 2010): \f$\mathcal{U}(-a, a)\f$ with
///   \f$a = \mathrm{gain}\sqrt{6 / (\mathrm{fan_{in}} + \mathrm{fan_{out}})}\f$, or
///   \f$\mathcal{N}(0, \sigma^2)\f$ with \f$\sigma = \mathrm{gain}\sqrt{2 / (\mathrm{fan_{in}} +
///   \mathrm{fan_{out}})}\f$;
/// - Kaiming (He et al., "Delving deep into rectifiers", ICCV 2015):
///   \f$\sigma = \mathrm{gain} / \sqrt{\mathrm{fan}}\f$, uniform bound \f$\sqrt{3}\,\sigma\f$.
///
/// The default of `nn.Linear` and `nn.Conv2d` is `kaiming_uniform_(w, a = sqrt(5))`, i.e.
/// \f$\mathrm{gain} = \sqrt{2 / (1 + 5)}\f$ and a bound of \f$1/\sqrt{\mathrm{fan_{in}}}\f$, with the
/// bias uniform in \f$\pm 1/\sqrt{\mathrm{fan_{in}}}\f$ (see linear.h, conv.h).
///
/// Usage:
/// \code
///   Generator gen(0);
///   Tensor w = Tensor::empty({64, 32, 3, 3});
///   kaiming_uniform_(w, gen, std::sqrt(5.0));                 // PyTorch's Conv2d default
///   xavier_uniform_(w, gen);                                  // gain 1
///   kaiming_normal_(w, gen, 0, FanMode::FanOut, Nonlinearity::Relu);
/// \endcode
#pragma once

#include <utility>

#include "tensor/random.h"
#include "tensor/tensor_core.h"

namespace tinydiff {

/// The nonlinearity a layer feeds, for calculate_gain().
enum class Nonlinearity { Linear, Conv, Sigmoid, Tanh, Relu, LeakyRelu, Selu };

/// Which fan Kaiming initialisation divides by: fan_in keeps the forward variance, fan_out the backward.
enum class FanMode { FanIn, FanOut };

/// PyTorch's `calculate_gain`: 1 (Linear, Conv, Sigmoid), 5/3 (Tanh), \f$\sqrt 2\f$ (Relu),
/// \f$\sqrt{2 / (1 + a^2)}\f$ (LeakyRelu with negative slope `param`), 3/4 (Selu).
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

/// (fan_in, fan_out) of a weight shape with at least 2 axes; throws otherwise.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Shape& shape);

/// Fills `t` with \f$\mathcal{U}(\mathrm{lo}, \mathrm{hi})\f$.
void uniform_(Tensor& t, Generator& gen, double lo = 0.0, double hi = 1.0);
/// Fills `t` with \f$\mathcal{N}(\mathrm{mean}, \mathrm{std}^2)\f$.
void normal_(Tensor& t, Generator& gen, double mean = 0.0, double std = 1.0);
/// Fills `t` with `value`.
void constant_(Tensor& t, double value);
/// Fills `t` with 0.
void zeros_(Tensor& t);
/// Fills `t` with 1.
void ones_(Tensor& t);

/// Xavier/Glorot uniform: \f$\mathcal{U}(-a, a)\f$, \f$a =
/// \mathrm{gain}\sqrt{6/(\mathrm{fan_{in}}+\mathrm{fan_{out}})}\f$.
void xavier_uniform_(Tensor& t, Generator& gen, double gain = 1.0);
/// Xavier/Glorot normal: \f$\sigma = \mathrm{gain}\sqrt{2/(\mathrm{fan_{in}}+\mathrm{fan_{out}})}\f$.
void xavier_normal_(Tensor& t, Generator& gen, double gain = 1.0);

/// Kaiming/He uniform: \f$\mathcal{U}(-b, b)\f$, \f$b = \sqrt{3}\,\mathrm{gain}/\sqrt{\mathrm{fan}}\f$ with
/// gain = calculate_gain(nonlinearity, a). PyTorch's defaults: a = 0, FanIn, LeakyRelu.
void kaiming_uniform_(Tensor& t, Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                      Nonlinearity nonlinearity = Nonlinearity::LeakyRelu);
/// Kaiming/He normal: \f$\mathcal{N}(0, \sigma^2)\f$, \f$\sigma = \mathrm{gain}/\sqrt{\mathrm{fan}}\f$.
void kaiming_normal_(Tensor& t, Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                     Nonlinearity nonlinearity = Nonlinearity::LeakyRelu);

}  // namespace tinydiff
