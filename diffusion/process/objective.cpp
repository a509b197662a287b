// The training objective: targets, min-SNR weights, the loss, timestep sampling (see objective.h).
#include "diffusion/process/objective.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "autograd/ops_elementwise.h"
#include "autograd/ops_reduce.h"
#include "diffusion/process/forward_process.h"
#include "tensor/random.h"

namespace tinydiff {

Tensor prediction_target(const Tensor& x0, const Tensor& noise, const Tensor& t, const NoiseSchedule& schedule,
                         Prediction prediction) {
  check_same_batch(x0, "x0", noise, "noise", "prediction_target");
  check_timesteps(t, x0.size(0), schedule, "prediction_target");
  switch (prediction) {
    case Prediction::Epsilon:
      return noise;
    case Prediction::X0:
      return x0;
    case Prediction::V:
      return v_from_x0_eps(x0, noise, t, schedule);
  }
  throw Error("prediction_target", "invalid Prediction value");
}

Tensor min_snr_weights(const Tensor& t, const NoiseSchedule& schedule, Prediction prediction, double gamma) {
  TD_CHECK(gamma >= 0.0, "min_snr_weights", fmt::format("gamma must be >= 0 (0 turns weighting off), got {}", gamma));
  check_defined(t, "min_snr_weights");
  TD_CHECK(t.dim() == 1, "min_snr_weights", fmt::format("t must be (B), got {}", shape_str(t.shape())));
  const int64_t B = t.size(0);
  check_timesteps(t, B, schedule, "min_snr_weights");
  std::vector<double> w(static_cast<size_t>(B), 1.0);
  if (gamma > 0.0) {
    const std::vector<double> ts = t.to_vector();
    for (int64_t b = 0; b < B; ++b) {
      const double snr = schedule.value(schedule.snr, static_cast<int64_t>(ts[b]));
      const double clipped = std::min(snr, gamma);
      switch (prediction) {
        case Prediction::Epsilon:
          w[b] = clipped / snr;
          break;
        case Prediction::V:
          w[b] = clipped / (snr + 1.0);
          break;
        case Prediction::X0:
          w[b] = clipped;
          break;
      }
    }
  }
  return Tensor::from_vector(w, {B}, DType::F64);
}

Variable diffusion_loss(const Variable& model_output, const Tensor& x0, const Tensor& noise, const Tensor& t,
                        const NoiseSchedule& schedule, Prediction prediction, double min_snr_gamma) {
  TD_CHECK(model_output.defined(), "diffusion_loss", "model_output is undefined");
  const Tensor& out = model_output.value();
  check_same_batch(out, "model_output", x0, "x0", "diffusion_loss");
  check_same_batch(x0, "x0", noise, "noise", "diffusion_loss");
  const int64_t B = out.size(0);
  check_timesteps(t, B, schedule, "diffusion_loss");

  const Tensor target = prediction_target(x0, noise, t, schedule, prediction);  // (B, ...)
  const Variable sq = square(model_output - Variable(target));                  // (B, ...)
  // Mean over every axis but the batch: (B, ...) -> (B).
  std::vector<int64_t> axes;
  for (int64_t a = 1; a < out.dim(); ++a) axes.push_back(a);
  const Variable per_example = axes.empty() ? sq : mean(sq, axes);  // (B)
  if (min_snr_gamma == 0.0) return mean(per_example);
  const Tensor w = min_snr_weights(t, schedule, prediction, min_snr_gamma).to(out.dtype());  // (B)
  return mean(per_example * Variable(w));
}

Tensor sample_timesteps(Generator& gen, int64_t batch, int64_t num_timesteps) {
  TD_CHECK(batch >= 1, "sample_timesteps", fmt::format("batch must be >= 1, got {}", batch));
  TD_CHECK(num_timesteps >= 1, "sample_timesteps", fmt::format("num_timesteps must be >= 1, got {}", num_timesteps));
  return gen.randint(0, num_timesteps, {batch});
}

Tensor condition_dropout_mask(Generator& gen, int64_t batch, double p, DType dtype) {
  TD_CHECK(batch >= 1, "condition_dropout_mask", fmt::format("batch must be >= 1, got {}", batch));
  TD_CHECK(p >= 0.0 && p <= 1.0, "condition_dropout_mask", fmt::format("p must lie in [0, 1], got {}", p));
  return gen.bernoulli({batch}, p, dtype);
}

}  // namespace tinydiff
