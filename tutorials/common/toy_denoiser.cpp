// The 2-D toy denoiser of tutorials 4 and 5. See toy_denoiser.h.
#include "tutorials/common/toy_denoiser.h"

#include <cmath>
#include <limits>

#include "autograd/autograd.h"
#include "diffusion/data/toy_data.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/objective.h"
#include "nn/optim.h"
#include "nn/timestep_embedding.h"

namespace tinydiff::tutorial {

//! [model]
ToyDenoiser::ToyDenoiser(const ToyDenoiserOptions& options, Generator& gen)
    : fc1({.in_features = 2 + options.time_embedding, .out_features = options.hidden}, gen),
      fc2({.in_features = options.hidden, .out_features = options.hidden}, gen),
      fc3({.in_features = options.hidden, .out_features = options.hidden}, gen),
      out({.in_features = options.hidden, .out_features = 2}, gen),
      options_(options) {
  register_module("fc1", fc1);
  register_module("fc2", fc2);
  register_module("fc3", fc3);
  register_module("out", out);
}

Variable ToyDenoiser::forward(const Tensor& x, const Tensor& t) const {
  const Tensor emb = timestep_embedding(t, options_.time_embedding);  // emb: (B, time_embedding)
  Variable h(concat({x, emb}, 1));                                    // h: (B, 2 + time_embedding)
  h = silu(fc1.forward(h));                                           // h: (B, hidden)
  h = silu(fc2.forward(h));                                           // h: (B, hidden)
  h = silu(fc3.forward(h));                                           // h: (B, hidden)
  return out.forward(h);                                              // (B, 2): the predicted noise
}
//! [model]

Denoiser ToyDenoiser::denoiser() const {
  return [this](const Tensor& x, const Tensor& t) {
    NoGradGuard no_grad;
    return forward(x, t).value();
  };
}

std::vector<double> train_toy_denoiser(ToyDenoiser& model, const NoiseSchedule& schedule, Generator& gen,
                                       const ToyTrainOptions& options) {
  std::vector<double> losses;
  //! [train]
  EnableGradGuard enable_grad;  // record the graph even if the caller is inside a NoGradGuard
  AdamW opt(model.named_parameters(), {.lr = options.lr, .weight_decay = 0.0});
  for (int64_t step = 0; step < options.steps; ++step) {
    const Tensor x0 = make_moons(gen, options.batch).x;                             // x0: (B, 2), clean data
    const Tensor t = sample_timesteps(gen, options.batch, schedule.num_timesteps);  // t: (B), uniform in [0, T)
    const Tensor noise = gen.normal({options.batch, 2});                            // eps ~ N(0, I): (B, 2)
    const Tensor xt = q_sample(x0, t, noise, schedule);                             // sqrt(abar) x0 + sqrt(1-abar) eps
    opt.zero_grad();
    const Variable loss = diffusion_loss(model.forward(xt, t), x0, noise, t, schedule, Prediction::Epsilon);
    loss.backward();  // d loss / d theta for every parameter
    opt.step();       // AdamW update
    losses.push_back(loss.item());
  }
  //! [train]
  return losses;
}

double mean_nearest_distance(const Tensor& from, const Tensor& to) {
  const std::vector<double> a = from.to_vector(), b = to.to_vector();
  const size_t n = a.size() / 2, m = b.size() / 2;
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < m; ++j) best = std::min(best, std::hypot(a[2 * i] - b[2 * j], a[2 * i + 1] - b[2 * j + 1]));
    total += best;
  }
  return total / static_cast<double>(n);
}

}  // namespace tinydiff::tutorial
