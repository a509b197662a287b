// Tutorial 5: the reverse process — from pure noise to data step by step with DDPM (posterior
// mean and variance, trajectories, the predicted x_0 at each step), then DDIM with 10, 20 and
// 50 steps. See lesson.md. The network is tutorial 4's (tutorials/common/toy_denoiser.h).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/toy_data.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/objective.h"
#include "diffusion/process/schedule.h"
#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/ddpm.h"
#include "diffusion/sampling/timestep_spacing.h"
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

// The paths of the first few points of a batch through the sampling steps.
struct Paths {
  std::vector<double> t;               // paper timestep of each record (0 = the final sample)
  std::vector<std::vector<double>> x;  // x[i][k]: first coordinate of point i at record k
  std::vector<std::vector<double>> y;  // second coordinate
  explicit Paths(int64_t points) : x(static_cast<size_t>(points)), y(static_cast<size_t>(points)) {}
  void record(int64_t paper_t, const Tensor& xt) {  // xt: (B, 2)
    t.push_back(static_cast<double>(paper_t));
    for (size_t i = 0; i < x.size(); ++i) {
      x[i].push_back(xt.at({static_cast<int64_t>(i), 0}));
      y[i].push_back(xt.at({static_cast<int64_t>(i), 1}));
    }
  }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args =
      parse_tutorial_args(argc, argv, "05_reverse_process", "from pure noise to data with DDPM and DDIM");
  const NoiseSchedule schedule = make_schedule("cosine");
  const int64_t T = schedule.num_timesteps;

  heading("1. A trained denoiser (tutorial 4)");
  Generator gen(1234);
  ToyDenoiser model({}, gen);
  const int64_t train_steps = args.quick ? 300 : 6000;
  const std::vector<double> losses = train_toy_denoiser(model, schedule, gen, {.steps = train_steps});
  fmt::print("trained {} steps; final loss {:.4f}\n", train_steps, losses.back());
  NoGradGuard no_grad;
  Generator data_gen(99);
  const Tensor data = make_moons(data_gen, 2000).x;  // fresh data, for plots and the quality measure

  heading("2. The posterior q(x_{t-1} | x_t, x_0)");
  Series coef_x0{.title = "weight of x_0", .color = "#d62728"}, coef_xt{.title = "weight of x_t", .color = "#1f77b4"};
  Series beta{.title = "β_t", .color = "#999999"}, beta_tilde{.title = "β̃_t (posterior variance)", .color = "#2ca02c"};
  for (int64_t t = 1; t <= T; ++t) {
    const double td = static_cast<double>(t);
    for (Series* s : {&coef_x0, &coef_xt, &beta}) s->x.push_back(td);
    coef_x0.y.push_back(schedule.value(schedule.posterior_mean_coef1, t - 1));
    coef_xt.y.push_back(schedule.value(schedule.posterior_mean_coef2, t - 1));
    beta.y.push_back(schedule.value(schedule.betas, t - 1));
    if (t >= 2) {  // at t = 1 the posterior variance is exactly 0: x_0 is known
      beta_tilde.x.push_back(td);
      beta_tilde.y.push_back(schedule.value(schedule.posterior_variance, t - 1));
    }
  }
  for (int64_t t : {2, 10, 100, 500, 900, 1000})
    fmt::print("t = {:>4}: mean = {:.4f} x0 + {:.4f} x_t, variance {:.2e} (beta_t {:.2e})\n", t,
               schedule.value(schedule.posterior_mean_coef1, t - 1),
               schedule.value(schedule.posterior_mean_coef2, t - 1), schedule.value(schedule.posterior_variance, t - 1),
               schedule.value(schedule.betas, t - 1));
  save_figure(args.out, "t05_posterior",
              Figure{.panels = {Chart{.title = "posterior mean μ̃_t = c_1 x_0 + c_2 x_t",
                                      .xlabel = "t",
                                      .series = {coef_x0, coef_xt},
                                      .logx = true,
                                      .yrange = {{0.0, 1.05}},
                                      .key = "center right"},
                                Chart{.title = "variance of one reverse step",
                                      .xlabel = "t",
                                      .series = {beta, beta_tilde},
                                      .logx = true,
                                      .logy = true,
                                      .yrange = {{1e-6, 1.0}},
                                      .key = "bottom right",
                                      .extra = "set format y \"10^{%L}\""}},
                     .columns = 2,
                     .width = 1000,
                     .height = 380,
                     .title = "cosine schedule, T = 1000"});

  heading("3. DDPM, one step at a time");
  const int64_t N = args.quick ? 200 : 1000;
  const Tensor x_T = Generator(7).normal({N, 2});  // pure noise
  auto start = std::chrono::steady_clock::now();
  Generator step_gen(11);
  //! [ddpm_loop]
  Tensor x = x_T;                         // (N, 2), pure noise
  for (int64_t t = T - 1; t >= 0; --t) {  // 0-based index t is the paper's timestep t + 1
    const Tensor tt = timestep(t, N);
    const Tensor eps_hat = model.forward(x, tt).value();            // the network's noise estimate
    const Tensor x0_hat = x0_from_eps(x, eps_hat, tt, schedule);    // (x_t - sqrt(1 - abar) eps) / sqrt(abar)
    const Tensor mean = q_posterior_mean(x0_hat, x, tt, schedule);  // mu_theta(x_t, t) = mu~_t(x_t, x0_hat)
    if (t == 0) {
      x = mean;  // the last step adds no noise
      break;
    }
    const double variance = schedule.value(schedule.posterior_variance, t);  // beta~_t
    x = mean + step_gen.normal({N, 2}) * std::sqrt(variance);                // x_{t-1} ~ p_theta(x_{t-1} | x_t)
  }
  //! [ddpm_loop]
  const double loop_seconds = seconds_since(start);
  // The library's sampler: the same steps, the same noise draws (same seed), plus a callback
  // that records x_t and x0_hat along the way.
  std::map<int64_t, std::pair<Tensor, Tensor>> snapshots;  // paper t -> (x_t, x0_hat)
  const std::vector<int64_t> shown = {950, 800, 600, 400, 200, 50};
  const int64_t traced = 40;  // points whose whole path is drawn
  Paths ddpm_paths(traced);
  //! [ddpm_sample]
  DdpmOptions ddpm_opt;
  ddpm_opt.callback = [&](int64_t, int64_t t, const Tensor& xt, const Tensor& x0_pred) {
    if (std::find(shown.begin(), shown.end(), t + 1) != shown.end()) snapshots[t + 1] = {xt, x0_pred};
    ddpm_paths.record(t + 1, xt);
  };
  Generator sample_gen(11);
  const Tensor ddpm_x = ddpm_sample(model.denoiser(), schedule, x_T, sample_gen, ddpm_opt);
  //! [ddpm_sample]
  fmt::print("hand-written loop ({:.2f} s) vs ddpm_sample: max |difference| = {:.1e}\n", loop_seconds,
             max_abs_diff(x, ddpm_x));
  std::vector<Chart> steps_panels;
  for (bool predicted : {false, true})
    for (int64_t t : shown) {
      const auto& [xt, x0p] = snapshots.at(t);
      Chart c = square_panel(predicted ? fmt::format("x̂_0 predicted at t = {}", t) : fmt::format("x_t, t = {}", t));
      c.series.push_back(scatter("", data.slice(0, 0, 500), "#dddddd"));
      const Tensor shown_points = (predicted ? x0p : xt).slice(0, 0, std::min<int64_t>(N, 500));  // 500 drawn
      c.series.push_back(scatter("", shown_points, predicted ? "#d62728" : "#1f77b4"));
      steps_panels.push_back(c);
    }
  save_figure(args.out, "t05_ddpm_steps", Figure{.panels = steps_panels, .columns = 6, .width = 1380, .height = 520});
  for (int64_t t : shown)
    fmt::print("t = {:>4}: mean distance to the data: x_t {:.3f}, x0_hat {:.3f}\n", t,
               mean_nearest_distance(snapshots.at(t).first, data), mean_nearest_distance(snapshots.at(t).second, data));

  heading("4. DDIM: fewer, deterministic steps");
  //! [ddim_loop]
  const std::vector<int64_t> ts = sampling_timesteps(T, 10, TimestepSpacing::Leading);  // 900, 800, ..., 0
  Tensor y = x_T;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor tt = timestep(ts[i], N);
    const Tensor eps_hat = model.forward(y, tt).value();
    const Tensor x0_hat = x0_from_eps(y, eps_hat, tt, schedule);
    const double abar_next = i + 1 < ts.size() ? schedule.value(schedule.alpha_bar, ts[i + 1]) : 1.0;
    y = x0_hat * std::sqrt(abar_next) + eps_hat * std::sqrt(1.0 - abar_next);  // DDIM, eta = 0
  }
  //! [ddim_loop]
  DdimOptions check_opt;
  check_opt.steps = 10;
  check_opt.spacing = TimestepSpacing::Leading;
  Generator unused(0);
  fmt::print("hand-written 10-step DDIM vs ddim_sample: max |difference| = {:.1e}\n",
             max_abs_diff(y, ddim_sample(model.denoiser(), schedule, x_T, unused, check_opt)));

  std::vector<Chart> compare;
  Paths ddim_paths(traced);
  for (int64_t steps : {10, 20, 50}) {
    //! [ddim_sample]
    DdimOptions opt;
    opt.steps = steps;
    opt.eta = 0.0;                           // deterministic
    opt.spacing = TimestepSpacing::Leading;  // 10 steps: 900, 800, ..., 0 (0-based)
    //! [ddim_sample]
    if (steps == 50)
      opt.callback = [&](int64_t, int64_t t, const Tensor& xt, const Tensor&) { ddim_paths.record(t + 1, xt); };
    Generator g(0);
    start = std::chrono::steady_clock::now();
    const Tensor out = sample(model.denoiser(), schedule, x_T, g, opt);
    const double secs = seconds_since(start);
    if (steps == 50) ddim_paths.record(0, out);
    const double precision = mean_nearest_distance(out, data),
                 coverage = mean_nearest_distance(data.slice(0, 0, 500), out);
    fmt::print("DDIM {:>2} steps: {:.3f} s, mean distance sample->data {:.3f}, data->sample {:.3f}\n", steps, secs,
               precision, coverage);
    Chart c = square_panel(fmt::format("DDIM, {} steps", steps));
    c.series.push_back(scatter("", data.slice(0, 0, 500), "#dddddd"));
    c.series.push_back(scatter("", out, "#1f77b4"));
    compare.push_back(c);
  }
  // "trailing" spacing starts at index T - 1, where the cosine schedule has sqrt(abar) = 4.9e-5:
  // x0_hat = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar) multiplies any error of eps_hat by 20,000.
  DdimOptions trailing;
  trailing.steps = 10;
  trailing.spacing = TimestepSpacing::Trailing;
  Generator g_trailing(0);
  const Tensor out_trailing = ddim_sample(model.denoiser(), schedule, x_T, g_trailing, trailing);
  fmt::print(
      "DDIM 10 steps, trailing spacing (from t = {}, 1/sqrt(abar) = {:.0f}): mean distance sample->data {:.3f}\n", T,
      1.0 / std::sqrt(schedule.value(schedule.alpha_bar, T - 1)), mean_nearest_distance(out_trailing, data));
  ddpm_paths.record(0, ddpm_x);
  fmt::print("DDPM 1000 steps: mean distance sample->data {:.3f}, data->sample {:.3f}\n",
             mean_nearest_distance(ddpm_x, data), mean_nearest_distance(data.slice(0, 0, 500), ddpm_x));
  Chart ddpm_panel = square_panel(fmt::format("DDPM, {} steps", T));
  ddpm_panel.series.push_back(scatter("", data.slice(0, 0, 500), "#dddddd"));
  ddpm_panel.series.push_back(scatter("", ddpm_x, "#1f77b4"));
  compare.push_back(ddpm_panel);
  save_figure(args.out, "t05_ddim_steps", Figure{.panels = compare, .columns = 4, .width = 1400, .height = 380});

  // Trajectories from the same starting noise: the 2-D paths of 40 points under DDIM (50
  // deterministic steps), then one coordinate of 6 points against t under DDPM and DDIM.
  const auto path_panel = [&](const std::string& title, const Paths& p, size_t points, size_t every) {
    Chart c = square_panel(title);
    c.series.push_back(scatter("", data.slice(0, 0, 500), "#dddddd"));
    Series starts{.with = "points pt 7 ps 0.5", .color = "#555555"};
    Series ends{.with = "points pt 7 ps 0.7", .color = "#d62728"};
    for (size_t i = 0; i < points; ++i) {
      Series line{.with = "lines lw 1", .color = "#4292c6"};
      for (size_t k = 0; k < p.t.size(); k += every) line.x.push_back(p.x[i][k]), line.y.push_back(p.y[i][k]);
      line.x.push_back(p.x[i].back()), line.y.push_back(p.y[i].back());
      c.series.push_back(line);
      starts.x.push_back(p.x[i].front()), starts.y.push_back(p.y[i].front());
      ends.x.push_back(p.x[i].back()), ends.y.push_back(p.y[i].back());
    }
    c.series.push_back(starts);
    c.series.push_back(ends);
    return c;
  };
  Chart over_t{.title = "first coordinate of 6 points against t",
               .xlabel = "t (sampling runs from right to left)",
               .xrange = {{0.0, static_cast<double>(T)}},
               .key = "bottom left",
               .extra = "set xrange [*:*] reverse"};
  for (size_t i = 0; i < 6; ++i) {
    Series ddpm_line{.title = i == 0 ? "DDPM (every 4th step)" : "", .with = "lines lw 0.7", .color = "#9ecae1"};
    for (size_t k = 0; k < ddpm_paths.t.size(); k += 4)
      ddpm_line.x.push_back(ddpm_paths.t[k]), ddpm_line.y.push_back(ddpm_paths.x[i][k]);
    over_t.series.push_back(ddpm_line);
    over_t.series.push_back(Series{.title = i == 0 ? "DDIM, 50 steps" : "",
                                   .x = ddim_paths.t,
                                   .y = ddim_paths.x[i],
                                   .with = "linespoints lw 2 pt 7 ps 0.4",
                                   .color = "#d62728"});
  }
  save_figure(
      args.out, "t05_trajectories",
      Figure{
          .panels = {path_panel("DDIM, 50 steps, η = 0: 40 paths", ddim_paths, static_cast<size_t>(traced), 1), over_t},
          .columns = 2,
          .width = 1000,
          .height = 460});
  fmt::print("\nfigures: t05_posterior.png t05_ddpm_steps.png t05_trajectories.png t05_ddim_steps.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_05_reverse_process", argc, argv, [&] { return tutorial_main(argc, argv); });
}
