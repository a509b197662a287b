// Tutorial 3: the forward process — an image noised step by step with q(x_t | x_{t-1}) and in one
// jump with q(x_t | x_0); why the two agree; the linear and cosine schedules. See lesson.md.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "diffusion/data/fashion_mnist.h"
#include "diffusion/data/image_io.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/schedule.h"
#include "tensor/program.h"
#include "tensor/tensor.h"
#include "tutorials/common/args.h"
#include "tutorials/common/plot.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

// The timesteps shown in the strips, in the paper's 1-based numbering (tinydiff index = t - 1).
const std::vector<int64_t> kShown = {1, 50, 100, 200, 300, 500, 700, 1000};

Tensor timestep(int64_t index, int64_t batch = 1) {
  return Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(batch), index), {batch});
}

// Rows of images (each (1, 1, 32, 32)) as one grid image, columns = images per row.
void save_strip(const std::string& path, const std::vector<std::vector<Tensor>>& rows) {
  std::vector<Tensor> all;
  for (const auto& row : rows)
    for (const Tensor& img : row) all.push_back(img.squeeze(0));
  save_png(path, enlarge(make_grid(stack(all, 0), static_cast<int64_t>(rows[0].size()), 2, 1.0), 2));
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args =
      parse_tutorial_args(argc, argv, "03_forward_process", "noising an image step by step and in one jump");

  const FashionMnist fm = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, 1);
  const Tensor x0 = fm.images;  // (1, 1, 32, 32) in [-1, 1]: one Fashion-MNIST item, padded to 32x32
  fmt::print("x0: Fashion-MNIST test item 0 ({}), shape {}\n", fashion_class_name(fm.labels.at({0})),
             shape_str(x0.shape()));
  const NoiseSchedule linear = make_schedule("linear");  // T = 1000, beta from 1e-4 to 0.02
  const NoiseSchedule cosine = make_schedule("cosine");
  const int64_t T = linear.num_timesteps;

  heading("1. Step by step: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps");
  Generator gen(3);
  std::vector<Tensor> stepped = {x0}, jumped = {x0};
  //! [step_by_step]
  Tensor x = x0;
  for (int64_t t = 1; t <= T; ++t) {                                // paper timesteps 1..T
    x = q_step(x, timestep(t - 1), gen.normal(x.shape()), linear);  // x_t ~ q(x_t | x_{t-1})
    if (std::find(kShown.begin(), kShown.end(), t) != kShown.end()) stepped.push_back(x);
  }
  //! [step_by_step]

  heading("2. In one jump: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps");
  //! [one_jump]
  for (int64_t t : kShown) {
    const Tensor eps = gen.normal(x0.shape());
    jumped.push_back(q_sample(x0, timestep(t - 1), eps, linear));  // x_t ~ q(x_t | x_0), in one draw
  }
  //! [one_jump]
  // Both ways, x_t - sqrt(abar_t) x0 is noise of standard deviation sqrt(1 - abar_t):
  for (size_t i = 0; i < kShown.size(); ++i) {
    const double abar = linear.value(linear.alpha_bar, kShown[i] - 1);
    const auto noise_std = [&](const Tensor& xt) { return std::sqrt(var(xt - x0 * std::sqrt(abar)).item()); };
    fmt::print(
        "t = {:>4}: alpha_bar = {:.5f}, sqrt(1 - alpha_bar) = {:.4f}; noise std step by step {:.4f}, one jump {:.4f}\n",
        kShown[i], abar, std::sqrt(1.0 - abar), noise_std(stepped[i + 1]), noise_std(jumped[i + 1]));
  }
  save_strip(args.path("t03_strip_linear.png"), {stepped, jumped});

  // The same noise for both schedules: the difference between the rows is the schedule alone.
  std::vector<Tensor> row_linear = {x0}, row_cosine = {x0};
  for (int64_t t : kShown) {
    const Tensor eps = gen.normal(x0.shape());
    row_linear.push_back(q_sample(x0, timestep(t - 1), eps, linear));
    row_cosine.push_back(q_sample(x0, timestep(t - 1), eps, cosine));
  }
  save_strip(args.path("t03_strip_schedules.png"), {row_linear, row_cosine});

  heading("3. Why the two agree");
  // Run N independent chains of the one-step process from the same x0 and compare the spread of
  // x_t across the chains with the closed form's mean sqrt(abar_t) x0 and std sqrt(1 - abar_t).
  const int64_t N = args.quick ? 32 : 256;
  const std::vector<double> x0_pixels = x0.to_vector();
  const int64_t bright = static_cast<int64_t>(argmax(x0.flatten(), 0).item());  // the brightest pixel
  const int64_t dark = 0;  // the top-left corner: background, x0 = -1
  Series mean_bright{.title = fmt::format("mean, pixel with x_0 = {:.2f}", x0_pixels[bright]),
                     .with = "points pt 7 ps 0.5"};
  Series mean_dark{.title = "mean, background pixel (x_0 = -1)", .with = "points pt 5 ps 0.5"};
  Series std_bright{.title = "std, bright pixel", .with = "points pt 7 ps 0.5"};
  Series std_dark{.title = "std, background pixel", .with = "points pt 5 ps 0.5"};
  //! [agree]
  Tensor chains = x0.expand({N, 1, 32, 32}).contiguous();  // (N, 1, 32, 32): N copies of x0
  for (int64_t t = 1; t <= T; ++t) {
    chains = q_step(chains, timestep(t - 1, N), gen.normal(chains.shape()), linear);
    if (t % 20 != 0 && t != 1) continue;
    const Tensor m = mean(chains, {0}).flatten();        // (1024): per-pixel mean over the N chains
    const Tensor sd = sqrt(var(chains, {0})).flatten();  // (1024): per-pixel standard deviation
    const double abar = linear.value(linear.alpha_bar, t - 1);
    // How far the chains' mean is from sqrt(abar) x0, in standard errors sqrt(1 - abar) / sqrt(N):
    const double z = max(abs(m - x0.flatten() * std::sqrt(abar))).item() / std::sqrt((1.0 - abar) / N);
    //! [agree]
    if (t == 1 || t == 100 || t == 500 || t == 1000)
      fmt::print("t = {:>4}: chains' std {:.4f} vs sqrt(1 - abar) {:.4f}; worst pixel mean off by {:.2f} std errors\n",
                 t, mean(sd).item(), std::sqrt(1.0 - abar), z);
    const double td = static_cast<double>(t);
    for (Series* series : {&mean_bright, &mean_dark, &std_bright, &std_dark}) series->x.push_back(td);
    mean_bright.y.push_back(m.at({bright}));
    mean_dark.y.push_back(m.at({dark}));
    std_bright.y.push_back(sd.at({bright}));
    std_dark.y.push_back(sd.at({dark}));
  }
  Series th_bright{.title = "√ᾱ_t x_0", .color = "#333333"};
  Series th_dark{.title = "", .color = "#333333"};
  Series th_std{.title = "√(1 - ᾱ_t)", .color = "#333333"};
  for (int64_t t = 1; t <= T; ++t) {
    const double abar = linear.value(linear.alpha_bar, t - 1), td = static_cast<double>(t);
    for (Series* series : {&th_bright, &th_dark, &th_std}) series->x.push_back(td);
    th_bright.y.push_back(std::sqrt(abar) * x0_pixels[bright]);
    th_dark.y.push_back(-std::sqrt(abar));
    th_std.y.push_back(std::sqrt(1.0 - abar));
  }
  const std::string chains_note = fmt::format("{} chains of q(x_t | x_{{t-1}}) (points) vs q(x_t | x_0) (lines)", N);
  save_figure(args.out, "t03_agree",
              Figure{.panels = {Chart{.title = "mean of x_t",
                                      .xlabel = "t",
                                      .ylabel = "",
                                      .series = {th_bright, th_dark, mean_bright, mean_dark}},
                                Chart{.title = "standard deviation of x_t",
                                      .xlabel = "t",
                                      .ylabel = "",
                                      .series = {th_std, std_bright, std_dark},
                                      .key = "bottom right"}},
                     .columns = 2,
                     .width = 1000,
                     .height = 380,
                     .title = chains_note});

  heading("4. Linear and cosine schedules");
  const std::string log_format = "set format y \"10^{%L}\"";
  Chart betas{.title = "β_t, the variance added at step t",
              .xlabel = "t",
              .logy = true,
              .key = "bottom right",
              .extra = log_format};
  Chart abars{.title = "ᾱ_t, the share of the signal kept", .xlabel = "t"};
  Chart snrs{.title = "SNR(t) = ᾱ_t / (1 - ᾱ_t)", .xlabel = "t", .logy = true, .extra = log_format};
  for (const NoiseSchedule* s : {&linear, &cosine}) {
    //! [schedules]
    Series b{.title = s->name}, a{.title = s->name}, r{.title = s->name};
    for (int64_t t = 1; t <= T; ++t) {
      const double td = static_cast<double>(t);
      b.x.push_back(td), b.y.push_back(s->value(s->betas, t - 1));
      a.x.push_back(td), a.y.push_back(s->value(s->alpha_bar, t - 1));
      r.x.push_back(td), r.y.push_back(s->value(s->snr, t - 1));  // abar / (1 - abar)
    }
    //! [schedules]
    betas.series.push_back(b);
    abars.series.push_back(a);
    snrs.series.push_back(r);
    int64_t half = 1;
    while (half < T && s->value(s->snr, half - 1) > 1.0) ++half;
    fmt::print("{:>6}: alpha_bar_T = {:.2e}, SNR falls below 1 at t = {}, SNR(1) = {:.0f}, SNR(T) = {:.1e}\n", s->name,
               s->value(s->alpha_bar, T - 1), half, s->value(s->snr, 0), s->value(s->snr, T - 1));
  }
  save_figure(args.out, "t03_schedules",
              Figure{.panels = {betas, abars, snrs}, .columns = 3, .width = 1200, .height = 360});
  fmt::print("\nfigures: t03_strip_linear.png t03_strip_schedules.png t03_agree.png t03_schedules.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_03_forward_process", argc, argv, [&] { return tutorial_main(argc, argv); });
}
