// Tutorial 4: training a denoiser on 2-D points — the MSE noise objective, the loss curve, and
// what the network predicts. See lesson.md; the model and training loop are in
// tutorials/common/toy_denoiser.cpp (tutorial 5 samples from the same network).
#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/toy_data.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/objective.h"
#include "diffusion/process/schedule.h"
#include "tensor/program.h"
#include "tutorials/common/args.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/toy_denoiser.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

Tensor timestep(int64_t index, int64_t batch) {
  return Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(batch), index), {batch});
}

// Columns 0 and 1 of an (N, 2) tensor.
std::vector<double> column(const Tensor& points, int64_t c) { return points.slice(1, c, c + 1).flatten().to_vector(); }

Series scatter(const std::string& title, const Tensor& points, const std::string& color, double size = 0.25) {
  return Series{.title = title,
                .x = column(points, 0),
                .y = column(points, 1),
                .with = fmt::format("points pt 7 ps {}", size),
                .color = color};
}

Chart square_panel(const std::string& title) {
  return Chart{.title = title, .equal_axes = true, .xrange = {{-3.0, 3.0}}, .yrange = {{-3.0, 3.0}}, .key = "off"};
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args =
      parse_tutorial_args(argc, argv, "04_toy_training", "training a noise-prediction network on two moons");
  const NoiseSchedule schedule = make_schedule("cosine");
  const int64_t T = schedule.num_timesteps;
  Generator gen(1234);

  heading("1. The data and the forward process");
  const Tensor data = make_moons(gen, 2000).x;  // (2000, 2), standardised two moons
  std::vector<Chart> noised;
  for (int64_t t : {0, 50, 200, 500, 1000}) {  // paper timesteps; 0 = the clean data
    Chart c = square_panel(t == 0 ? std::string("x_0 (data)") : fmt::format("x_t, t = {}", t));
    const Tensor xt = t == 0 ? data : q_sample(data, timestep(t - 1, 2000), gen.normal({2000, 2}), schedule);
    c.series.push_back(scatter("", xt, "#1f77b4"));
    noised.push_back(c);
  }
  save_figure(args.out, "t04_noised", Figure{.panels = noised, .columns = 5, .width = 1400, .height = 320});

  heading("2. The network");
  ToyDenoiser model({}, gen);
  fmt::print("ToyDenoiser: {} parameters\n", model.parameter_count());
  for (const auto& [name, p] : model.named_parameters()) fmt::print("  {:<12} {}\n", name, shape_str(p.shape()));

  heading("3. Training with the noise-prediction MSE");
  const int64_t steps = args.quick ? 300 : 6000;
  const std::vector<double> losses = train_toy_denoiser(model, schedule, gen, {.steps = steps});
  // A trailing mean over 100 steps: one batch's loss is noisy (its t are random).
  std::vector<double> step_axis, smooth;
  double window = 0.0;
  for (size_t i = 0; i < losses.size(); ++i) {
    window += losses[i] - (i >= 100 ? losses[i - 100] : 0.0);
    step_axis.push_back(static_cast<double>(i + 1));
    smooth.push_back(window / static_cast<double>(std::min<size_t>(i + 1, 100)));
  }
  for (int64_t s : {int64_t{1}, steps / 10, steps / 2, steps})
    fmt::print("step {:>5}: loss {:.4f} (mean of the last 100 steps {:.4f})\n", s, losses[s - 1], smooth[s - 1]);
  save_figure(
      args.out, "t04_loss",
      Figure{
          .panels = {Chart{
              .title = "training loss: mean of ||ε - ε_θ(x_t, t)||^2 over a batch of 256",
              .xlabel = "AdamW step",
              .ylabel = "loss",
              .series =
                  {Series{.title = "one batch", .x = step_axis, .y = losses, .with = "lines lw 1", .color = "#c6dbef"},
                   Series{.title = "mean of the last 100 steps", .x = step_axis, .y = smooth, .color = "#08519c"}},
              .yrange = {{0.2, 1.2}}}}});

  heading("4. The loss at each noise level");
  // The MSE at fixed t on fresh data, for the trained network and for one that predicts eps = 0.
  NoGradGuard no_grad;
  Generator eval_gen(99);
  const int64_t n_eval = args.quick ? 500 : 4000;
  Series trained{.title = "trained ε_θ", .with = "linespoints lw 2 pt 7 ps 0.6", .color = "#08519c"};
  Series zero{.title = "predicting ε = 0", .color = "#999999"};
  for (int64_t t = 1; t <= T; t += (t < 100 ? 10 : 50)) {
    //! [loss_at_t]
    const Tensor x0 = make_moons(eval_gen, n_eval).x;
    const Tensor tt = timestep(t - 1, n_eval);
    const Tensor noise = eval_gen.normal({n_eval, 2});
    const Tensor xt = q_sample(x0, tt, noise, schedule);
    const double mse = mean(square(model.forward(xt, tt).value() - noise)).item();
    //! [loss_at_t]
    trained.x.push_back(static_cast<double>(t)), trained.y.push_back(mse);
    zero.x.push_back(static_cast<double>(t)), zero.y.push_back(mean(square(noise)).item());
    if (t == 1 || t == 101 || t == 501 || t == 951) fmt::print("t = {:>4}: MSE {:.4f}\n", t, mse);
  }
  save_figure(args.out, "t04_loss_by_t",
              Figure{.panels = {Chart{.title = "noise-prediction error at each timestep (fresh data)",
                                      .xlabel = "t",
                                      .ylabel = "mean of (ε - ε_θ)^2 per coordinate",
                                      .series = {trained, zero},
                                      .yrange = {{0.0, 1.4}},
                                      .key = "top right"}}});

  heading("5. What the network predicts");
  // (a) Arrows from points x_t on a grid to the network's estimate x0_hat of the clean point.
  // (b) Noised data x_t and the network's x0_hat for them.
  const int grid = 11;
  std::vector<double> gx, gy;
  for (double u : linspace(-2.4, 2.4, grid))
    for (double v : linspace(-2.4, 2.4, grid)) gx.push_back(u), gy.push_back(v);
  std::vector<double> flat;
  for (size_t i = 0; i < gx.size(); ++i) flat.push_back(gx[i]), flat.push_back(gy[i]);
  const int64_t ng = static_cast<int64_t>(gx.size());
  const Tensor grid_points = Tensor::from_vector(flat, {ng, 2});  // (121, 2)
  std::vector<Chart> fields, predictions;
  for (int64_t t : {20, 200, 600}) {
    //! [predict_x0]
    const Tensor tt = timestep(t - 1, ng);
    const Tensor eps_hat = model.forward(grid_points, tt).value();          // (121, 2)
    const Tensor x0_hat = x0_from_eps(grid_points, eps_hat, tt, schedule);  // (x_t - sqrt(1-abar) eps) / sqrt(abar)
    //! [predict_x0]
    const Tensor move = x0_hat - grid_points;  // (121, 2): arrows from x_t to x0_hat
    Chart f = square_panel(fmt::format("t = {}: arrows from x_t to x̂_0", t));
    f.series.push_back(scatter("", data.slice(0, 0, 300), "#cccccc"));
    f.series.push_back(Series{.x = gx,
                              .y = gy,
                              .dx = column(move, 0),
                              .dy = column(move, 1),
                              .with = "vectors head size 0.07,20 filled lw 1",
                              .color = "#d62728"});
    fields.push_back(f);
  }
  save_figure(args.out, "t04_field", Figure{.panels = fields, .columns = 3, .width = 1200, .height = 420});
  for (int64_t t : {100, 400, 800}) {
    const int64_t n = 600;
    const Tensor x0 = make_moons(eval_gen, n).x, tt = timestep(t - 1, n);
    const Tensor xt = q_sample(x0, tt, eval_gen.normal({n, 2}), schedule);
    const Tensor x0_hat = x0_from_eps(xt, model.forward(xt, tt).value(), tt, schedule);
    Chart c = square_panel(fmt::format("t = {} (ᾱ_t = {:.2f})", t, schedule.value(schedule.alpha_bar, t - 1)));
    c.key = "top left";
    c.series.push_back(scatter("x_t", xt, "#bbbbbb"));
    c.series.push_back(scatter("x̂_0", x0_hat, "#08519c", 0.4));
    predictions.push_back(c);
    fmt::print("t = {:>3}: mean distance from x0_hat to the data {:.3f} (x_t: {:.3f})\n", t,
               mean_nearest_distance(x0_hat, data), mean_nearest_distance(xt, data));
  }
  save_figure(args.out, "t04_x0_pred", Figure{.panels = predictions, .columns = 3, .width = 1200, .height = 420});
  fmt::print("\nfigures: t04_noised.png t04_loss.png t04_loss_by_t.png t04_field.png t04_x0_pred.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_04_toy_training", argc, argv, [&] { return tutorial_main(argc, argv); });
}
