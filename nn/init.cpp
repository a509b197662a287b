// Parameter initialisation as in torch.nn.init. See init.h.
#include "nn/init.h"

#include <fmt/format.h>

#include <cmath>

namespace tinydiff {

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::Relu:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyRelu:
      return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::Selu:
      return 3.0 / 4.0;
  }
  throw Error("calculate_gain", "unknown nonlinearity");
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Shape& shape) {
  TD_CHECK(shape.size() >= 2, "calculate_fan_in_and_fan_out",
           fmt::format("fans need a weight with at least 2 axes (out, in, ...), got shape {}", shape_str(shape)));
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  // weight: (out, in, k1, k2, ...)
  return {shape[1] * receptive, shape[0] * receptive};
}

namespace {
void check_init_target(const Tensor& t, const char* op) {
  check_defined(t, op);
  check_floating(t, op);
}

double fan_for(const Tensor& t, FanMode mode, const char* op) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t.shape());
  const int64_t fan = mode == FanMode::FanIn ? fan_in : fan_out;
  TD_CHECK(fan > 0, op, fmt::format("cannot initialise a tensor with a zero fan, shape {}", shape_str(t.shape())));
  return static_cast<double>(fan);
}
}  // namespace

void uniform_(Tensor& t, Generator& gen, double lo, double hi) {
  check_init_target(t, "uniform_");
  t.copy_(gen.uniform(t.shape(), lo, hi, t.dtype()));
}

void normal_(Tensor& t, Generator& gen, double mean, double std) {
  check_init_target(t, "normal_");
  t.copy_(gen.normal(t.shape(), mean, std, t.dtype()));
}

void constant_(Tensor& t, double value) {
  check_init_target(t, "constant_");
  t.fill_(value);
}

void zeros_(Tensor& t) { constant_(t, 0.0); }
void ones_(Tensor& t) { constant_(t, 1.0); }

void xavier_uniform_(Tensor& t, Generator& gen, double gain) {
  check_init_target(t, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t.shape());
  TD_CHECK(fan_in + fan_out > 0, "xavier_uniform_", "the tensor has no elements along its fans");
  const double a = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, gen, -a, a);
}

void xavier_normal_(Tensor& t, Generator& gen, double gain) {
  check_init_target(t, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t.shape());
  TD_CHECK(fan_in + fan_out > 0, "xavier_normal_", "the tensor has no elements along its fans");
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  normal_(t, gen, 0.0, std);
}

void kaiming_uniform_(Tensor& t, Generator& gen, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_init_target(t, "kaiming_uniform_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan_for(t, mode, "kaiming_uniform_"));
  const double bound = std::sqrt(3.0) * std;
  uniform_(t, gen, -bound, bound);
}

void kaiming_normal_(Tensor& t, Generator& gen, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_init_target(t, "kaiming_normal_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan_for(t, mode, "kaiming_normal_"));
  normal_(t, gen, 0.0, std);
}

}  // namespace tinydiff
