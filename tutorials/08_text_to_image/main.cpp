// Tutorial 8: text-to-image on Fashion-MNIST — train the micro model for a few minutes, sample
// every class prompt, and follow one image through the sampler (x_t and the predicted x_0). See
// lesson.md. With --checkpoint FILE it reuses a trained model instead of training one.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/captions.h"
#include "diffusion/data/dataset.h"
#include "diffusion/data/fashion_mnist.h"
#include "diffusion/models/generate.h"
#include "diffusion/models/tokenizer.h"
#include "tensor/program.h"
#include "tutorials/common/args.h"
#include "tutorials/common/pictures.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/trained_model.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Root mean square difference per pixel of two equal-shaped tensors.
double rms(const Tensor& a, const Tensor& b) {
  const Tensor d = a - b;
  return std::sqrt(mean(d * d).item());
}

// For every row of `queries` (N, D), the index of the nearest row of `pool` (M, D) in Euclidean
// distance and that distance as a root mean square per pixel. |q - p|^2 = |q|^2 + |p|^2 - 2 q.p,
// the cross terms as one GEMM (N, M).
void nearest_rows(const Tensor& queries, const Tensor& pool, std::vector<int64_t>& index, std::vector<double>& dist) {
  const Tensor qq = sum(queries * queries, {1}, true);                      // (N, 1)
  const Tensor pp = sum(pool * pool, {1}, true).reshape({1, -1});           // (1, M)
  const Tensor d2 = qq + pp - 2.0 * matmul(queries, pool.transpose(0, 1));  // (N, M)
  const Tensor best = argmax(-d2, 1);                                       // (N)
  index.clear();
  dist.clear();
  const double dims = static_cast<double>(queries.size(1));
  for (int64_t i = 0; i < queries.size(0); ++i) {
    const int64_t j = static_cast<int64_t>(best.at({i}));
    index.push_back(j);
    dist.push_back(std::sqrt(std::max(0.0, d2.at({i, j})) / dims));
  }
}

double average(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

std::vector<std::string> class_labels() {
  std::vector<std::string> names(fashion_class_names().begin(), fashion_class_names().end());
  return names;
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args = parse_tutorial_args(argc, argv, "08_text_to_image",
                                                "train a text-to-image model on Fashion-MNIST, sample every class",
                                                /*accepts_checkpoint=*/true, /*accepts_sampler=*/true);
  const int64_t K = args.quick ? 1 : 8;               // samples per class prompt
  const int64_t sampler_steps = args.quick ? 4 : 50;  // sampler steps (DDIM unless --sampler says otherwise)
  const std::string sampler = sampler_label(args.sampler);

  heading("1. Captions and images");
  {
    const auto data = make_training_data("fashion", {.fashion_limit = args.quick ? 1000 : -1});
    Generator g(1);
    const TrainingBatch b = data->next_batch(g, 6);  // b.images: (6, 1, 32, 32) in [-1, 1]
    fmt::print("a training batch: images {}, captions:", shape_str(b.images.shape()));
    for (const std::string& c : b.captions) fmt::print(" \"{}\"", c);
    fmt::print("\n");
    const std::vector<std::string> captions = all_fashion_captions();
    const Tokenizer tok = Tokenizer::build(captions);
    fmt::print("{} distinct captions ({} templates); vocabulary of {} tokens (3 special)\n", captions.size(),
               fashion_caption_template_count(), tok.vocab_size());
    const Tokenizer::Encoded e = tok.encode(fashion_class_prompt(9));
    fmt::print("\"{}\" -> ids", fashion_class_prompt(9));
    for (int64_t id : e.ids) fmt::print(" {}", id);
    fmt::print("\n");
  }

  heading("2. Training");
  const TrainOptions recipe = tutorial_train_options("fashion", args.quick, args.path("run"));
  fmt::print("recipe: config '{}', {} steps of batch {}, lr {}, caption dropout {}, seed {}\n", recipe.config,
             recipe.steps, recipe.batch, recipe.lr, recipe.caption_dropout, recipe.seed);
  const TutorialModel m = train_or_load(args, recipe);
  const TrainedModel& tm = m.trained;
  if (m.trained_now)
    fmt::print("trained {} steps in {:.0f} s ({:.1f} steps/s, {:.0f} images/s)\n", tm.step, m.train_seconds,
               static_cast<double>(tm.step) / m.train_seconds,
               static_cast<double>(tm.step * recipe.batch) / m.train_seconds);
  {
    // The loss curve: every step's batch loss, and its running mean over 50 steps.
    Series raw{.title = "batch loss", .x = m.log_steps, .y = m.log_losses, .with = "lines lw 0.6", .color = "#9ecae1"};
    Series smooth{.title = "mean of the last 50 steps", .with = "lines lw 2", .color = "#08519c"};
    double window = 0.0;
    for (size_t i = 0; i < m.log_losses.size(); ++i) {
      window += m.log_losses[i];
      if (i >= 50) window -= m.log_losses[i - 50];
      const size_t n = std::min<size_t>(i + 1, 50);
      smooth.x.push_back(m.log_steps[i]);
      smooth.y.push_back(window / static_cast<double>(n));
    }
    if (m.log_losses.empty()) {
      fmt::print("no log.jsonl beside the checkpoint: the loss chart is left empty\n");
      raw.x = smooth.x = {0.0};
      raw.y = smooth.y = {1.0};
    } else {
      // Mean batch loss over a few windows of steps (1-based, inclusive), where the log has them.
      const size_t n = m.log_losses.size();
      fmt::print("loss: step 1 {:.4f}", m.log_losses[0]);
      for (const auto& [from, to] : std::vector<std::pair<size_t, size_t>>{
               {1, 10}, {91, 100}, {191, 200}, {491, 500}, {991, 1000}, {n > 100 ? n - 99 : 1, n}}) {
        if (to > n || from > to) continue;
        double s = 0.0;
        for (size_t i = from - 1; i < to; ++i) s += m.log_losses[i];
        fmt::print("; mean of steps {}-{} {:.4f}", from, to, s / static_cast<double>(to - from + 1));
      }
      fmt::print("\n");
    }
    save_figure(args.out, "t08_loss",
                Figure{.panels = {Chart{
                           .title = fmt::format("training loss, config \"{}\", batch {}", tm.config.name, recipe.batch),
                           .xlabel = "step",
                           .ylabel = "‖ε − ε_θ(x_t, t, c)‖^2 per pixel",
                           .series = {raw, smooth},
                           .logy = true}},
                       .width = 800,
                       .height = 400});
  }

  heading("3. One sample per class prompt");
  NoGradGuard no_grad;
  const int64_t S = tm.config.image_size, C = tm.config.image_channels;
  std::vector<std::string> prompts;  // row-major: row r, column = class
  for (int64_t r = 0; r < K; ++r)
    for (int64_t label = 0; label < 10; ++label) prompts.push_back(fashion_class_prompt(label));
  fmt::print("prompts: \"{}\", ..., \"{}\"\n", prompts.front(), prompts[9]);
  //! [generate]
  GenerateOptions gen_opt;
  gen_opt.sampler =
      image_sampler_options(args.sampler, sampler_steps);  // DDIM (eta = 0) by default, x0_hat clipped to [-1, 1]
  gen_opt.guidance = 3.0;                                  // classifier-free guidance (tutorial 9)
  Generator noise(2024);
  const Tensor x_T = noise.normal({static_cast<int64_t>(prompts.size()), C, S, S});  // pure noise
  auto start = std::chrono::steady_clock::now();
  const Tensor samples = generate_images(*tm.model, *tm.tokenizer, tm.schedule, prompts, x_T, noise, gen_opt);
  //! [generate]
  fmt::print("{} images, {} {} steps, guidance {}: {:.1f} s\n", samples.size(0), sampler_steps, sampler,
             gen_opt.guidance, seconds_since(start));

  // Real images in the same layout (the first K of each class), and each sample's nearest training image.
  const FashionMnist train = load_fashion_mnist(FashionSplit::Train, kFashionMnistDir, args.quick ? 2000 : -1);
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, 10 * K);
  std::vector<Tensor> real(static_cast<size_t>(10 * K));
  std::vector<int64_t> found(10, 0);
  for (int64_t i = 0; i < train.labels.size(0); ++i) {
    const auto label = static_cast<int64_t>(train.labels.at({i}));
    if (found[static_cast<size_t>(label)] < K)
      real[static_cast<size_t>(found[static_cast<size_t>(label)]++ * 10 + label)] = train.images.slice(0, i, i + 1);
  }
  const Tensor pool = train.images.reshape({train.images.size(0), -1});  // (N, 1024)
  std::vector<int64_t> nn_index;
  std::vector<double> nn_sample, nn_test;
  nearest_rows(test.images.reshape({test.images.size(0), -1}), pool, nn_index, nn_test);
  nearest_rows(samples.reshape({samples.size(0), -1}), pool, nn_index, nn_sample);
  std::vector<Tensor> nearest;
  for (int64_t j : nn_index) nearest.push_back(train.images.slice(0, j, j + 1));
  fmt::print(
      "nearest training image, RMS distance per pixel: generated {:.3f} (min {:.3f}), real test images {:.3f} "
      "(min {:.3f})\n",
      average(nn_sample), *std::min_element(nn_sample.begin(), nn_sample.end()), average(nn_test),
      *std::min_element(nn_test.begin(), nn_test.end()));
  {
    std::vector<double> ink(10, 0.0), real_ink(10, 0.0);  // mean brightness per class, in [0, 1]
    for (int64_t i = 0; i < samples.size(0); ++i) {
      ink[static_cast<size_t>(i % 10)] +=
          (mean(samples.slice(0, i, i + 1)).item() + 1.0) / 2.0 / static_cast<double>(K);
      real_ink[static_cast<size_t>(i % 10)] +=
          (mean(real[static_cast<size_t>(i)]).item() + 1.0) / 2.0 / static_cast<double>(K);
    }
    fmt::print("mean brightness per class (generated / real):");
    for (size_t c = 0; c < 10; ++c)
      fmt::print(" {} {:.2f}/{:.2f}", fashion_class_name(static_cast<int64_t>(c)), ink[c], real_ink[c]);
    fmt::print("\n");
  }
  const std::vector<std::string> names = class_labels();
  const std::string tics = "set xtics rotate by 35 right";
  // The samples, and beside them the nearest training image of each sample of the first three
  // rows (PNG size: a kilobyte or two per small image, so not all 80).
  const int64_t near_rows = std::min<int64_t>(K, 3);
  Chart gen_panel = grid_chart(
      samples, 10, fmt::format("generated, guidance {}, {} {} steps", gen_opt.guidance, sampler_steps, sampler), names);
  Chart near_panel =
      grid_chart(concat(std::vector<Tensor>(nearest.begin(), nearest.begin() + 10 * near_rows), 0), 10,
                 fmt::format("the nearest training image of each sample in rows 1-{}", near_rows), names);
  for (Chart* c : {&gen_panel, &near_panel})  // the same margins, so both grids come out at the same scale
    c->extra = tics + "\nset lmargin 6\nset rmargin 1\nset tmargin 3\nset bmargin 6";
  save_figure(args.out, "t08_samples",
              Figure{.panels = {gen_panel, near_panel}, .columns = 2, .width = 1480, .height = 700, .palette = true});

  heading("4. The trajectory of one image");
  const int64_t label = 9;                             // ankle boot
  std::map<int64_t, std::pair<Tensor, Tensor>> steps;  // sampler step -> (x_t, x0_hat)
  std::vector<int64_t> timestep_of;                    // 0-based timestep of each sampler step
  //! [trajectory]
  GenerateOptions one = gen_opt;
  set_step_callback(one.sampler, [&](int64_t step, int64_t t, const Tensor& x_t, const Tensor& x0_hat) {
    steps[step] = {x_t.clone(), x0_hat.clone()};  // the input of this step and the model's guess of x_0
    timestep_of.push_back(t);
  });
  Generator one_noise(7);
  const Tensor x_T1 = one_noise.normal({1, C, S, S});
  const Tensor final_image =
      generate_images(*tm.model, *tm.tokenizer, tm.schedule, {fashion_class_prompt(label)}, x_T1, one_noise, one);
  //! [trajectory]
  std::vector<int64_t> shown =
      args.quick ? std::vector<int64_t>{0, 1, 2, 3} : std::vector<int64_t>{0, 5, 10, 20, 30, 35, 40, 45, 49};
  std::vector<Tensor> top, bottom;
  std::vector<std::string> labels;
  fmt::print("prompt \"{}\", {} {} steps, guidance {}\n", fashion_class_prompt(label), sampler_steps, sampler,
             one.guidance);
  fmt::print("{:>5} {:>6} {:>12} {:>10} {:>24} {:>22}\n", "step", "t", "sqrt(abar_t)", "std(x_t)",
             "RMS(x0_hat - final x_0)", "RMS(x_t - final x_0)");
  for (int64_t s : shown) {
    const auto& [xt, x0] = steps.at(s);
    const int64_t t = timestep_of[static_cast<size_t>(s)];
    const double sab = std::sqrt(tm.schedule.value(tm.schedule.alpha_bar, t));
    fmt::print("{:>5} {:>6} {:>12.4f} {:>10.3f} {:>24.3f} {:>22.3f}\n", s, t + 1, sab, std::sqrt(var(xt).item()),
               rms(x0, final_image), rms(xt, final_image));
    top.push_back(clamp(xt, -1.0, 1.0));
    bottom.push_back(x0);
    labels.push_back(fmt::format("t = {}", t + 1));
  }
  top.push_back(final_image);
  bottom.push_back(final_image);
  labels.push_back("result");
  std::vector<Tensor> all = top;
  all.insert(all.end(), bottom.begin(), bottom.end());
  Chart strip = grid_chart(concat(all, 0), static_cast<int64_t>(top.size()),
                           fmt::format("\"{}\": top x_t, bottom the predicted x_0 (t as in the papers, 1..1000)",
                                       fashion_class_prompt(label)),
                           labels, {"x_t", "x̂_0"});
  save_figure(args.out, "t08_trajectory", Figure{.panels = {strip}, .width = 1100, .height = 360});
  fmt::print("\nfigures: t08_loss.png t08_samples.png t08_trajectory.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_08_text_to_image", argc, argv, [&] { return tutorial_main(argc, argv); });
}
