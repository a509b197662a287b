// Tutorial 9: classifier-free guidance — the guided noise estimate written out by hand, the same
// seeds sampled at guidance 0, 1, 3 and 7, and the trade-off between following the prompt (the
// Fashion-MNIST classifier's verdict) and diversity (mean distance between samples of one
// prompt) as the guidance scale grows. See lesson.md. --checkpoint FILE reuses a trained model.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "diffusion/data/captions.h"
#include "diffusion/data/fashion_mnist.h"
#include "diffusion/evaluation/fashion_classifier.h"
#include "diffusion/models/generate.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/sampling/guidance.h"
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

// Euclidean norm of each image of (B, C, H, W): (B) values.
std::vector<double> norms(const Tensor& x) {
  const Tensor n = sum(x * x, {1, 2, 3});
  std::vector<double> v = n.to_vector();
  for (double& e : v) e = std::sqrt(e);
  return v;
}

// Mean root-mean-square distance per pixel over all pairs of rows of `images` (N, C, H, W).
double mean_pairwise_rms(const Tensor& images) {
  const int64_t n = images.size(0);
  const Tensor x = images.reshape({n, -1});
  const Tensor sq = sum(x * x, {1}, true);                                         // (N, 1)
  const Tensor d2 = sq + sq.reshape({1, n}) - 2.0 * matmul(x, x.transpose(0, 1));  // (N, N)
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j)
      total += std::sqrt(std::max(0.0, d2.at({i, j})) / static_cast<double>(x.size(1)));
  return total / static_cast<double>(n * (n - 1) / 2);
}

// The classifier that judges the samples: the cached one (trained on first use, about 330 s),
// or in --quick mode, when nothing is cached, a rough one trained on 1000 images (not cached).
FashionClassifierReport judge(FashionClassifier& clf, bool quick) {
  const std::string path = default_classifier_path();
  const auto log = [](const std::string& line) { fmt::print("{}\n", line); };
  if (quick && !std::filesystem::exists(path)) {
    FashionClassifierTrainOptions o;
    o.epochs = 1;
    o.train_limit = 1000;
    o.test_limit = 500;
    return train_fashion_classifier(clf, o);
  }
  return load_or_train_fashion_classifier(path, clf, {}, log);
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args = parse_tutorial_args(argc, argv, "09_guidance",
                                                "classifier-free guidance: accuracy against diversity", true, true);
  const int64_t sampler_steps = args.quick ? 4 : 50;

  heading("1. A trained model (the recipe of tutorial 8)");
  const TutorialModel m = train_or_load(args, tutorial_train_options("fashion", args.quick, args.path("run")));
  if (m.trained_now) fmt::print("trained {} steps in {:.0f} s\n", m.trained.step, m.train_seconds);
  const TextToImageModel& model = *m.trained.model;
  const Tokenizer& tok = *m.trained.tokenizer;
  const NoiseSchedule& schedule = m.trained.schedule;
  const int64_t S = m.trained.config.image_size, C = m.trained.config.image_channels;
  // The judge of section 3, trained now when it is not cached: training needs gradients, which
  // are off from here on.
  Generator clf_init(0);
  FashionClassifier clf(clf_init);
  const FashionClassifierReport report = judge(clf, args.quick);
  NoGradGuard no_grad;

  heading("2. The guided noise estimate, by hand");
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, args.quick ? 200 : 2000);
  std::vector<int64_t> first_of(10, -1);  // index of the first test image of each class
  for (int64_t i = 0; i < test.labels.size(0); ++i) {
    const auto label = static_cast<size_t>(test.labels.at({i}));
    if (first_of[label] < 0) first_of[label] = i;
  }
  {
    const int64_t label = 7;  // a sneaker, noised to t = 500
    const Tensor x0 = test.images.slice(0, first_of[label], first_of[label] + 1);
    const Tensor t = Tensor::from_indices({499}, {1});
    Generator g(3);
    const Tensor x_t = q_sample(x0, t, g.normal(x0.shape()), schedule);
    const std::string prompt = fashion_class_prompt(label);
    const double w = 3.0;
    //! [guidance_by_hand]
    const Tokenizer::Batch cond = tok.encode_batch({prompt});                // ids, mask: (1, 16)
    const Tokenizer::Batch null = tok.encode_batch({""});                    // the empty prompt: <bos> alone
    const Variable ctx_c = model.text_encoder.forward(cond.ids, cond.mask);  // (1, 16, d)
    const Variable ctx_u = model.text_encoder.forward(null.ids, null.mask);
    const Tensor eps_c = model.unet.forward(Variable(x_t), t, ctx_c, cond.mask).value();  // eps(x_t, c)
    const Tensor eps_u = model.unet.forward(Variable(x_t), t, ctx_u, null.mask).value();  // eps(x_t, null)
    const Tensor eps_w = eps_u + (eps_c - eps_u) * w;  // guided: eps(x_t, null) + w (eps(x_t, c) - eps(x_t, null))
    //! [guidance_by_hand]
    // The library: guided_output, and classifier_free_guidance (one U-Net call on [x_t; x_t]).
    const Tensor ids2 = concat({null.ids, cond.ids}, 0), mask2 = concat({null.mask, cond.mask}, 0);  // (2, 16)
    const Variable ctx2 = model.text_encoder.forward(ids2, mask2);
    const Denoiser guided = classifier_free_guidance(
        [&](const Tensor& x2, const Tensor& t2) { return model.unet.forward(Variable(x2), t2, ctx2, mask2).value(); },
        w);
    fmt::print("\"{}\", t = 500, w = {}: by hand vs guided_output {:.1e}, vs classifier_free_guidance {:.1e}\n", prompt,
               w, max_abs_diff(eps_w, guided_output(eps_u, eps_c, w)), max_abs_diff(eps_w, guided(x_t, t)));
    fmt::print(
        "|eps(x_t, null)| = {:.2f}, |eps(x_t, c)| = {:.2f}, |eps(x_t, c) - eps(x_t, null)| = {:.2f}, "
        "|eps_w - eps(x_t, null)| = {:.2f} (the image has {} pixels)\n",
        norms(eps_u)[0], norms(eps_c)[0], norms(eps_c - eps_u)[0], norms(eps_w - eps_u)[0], x_t.numel());
  }
  {
    // How much the prompt changes the noise estimate, against t: one test image per class, with
    // its own class prompt and with another class's prompt.
    std::vector<Tensor> images;
    std::vector<std::string> right, wrong, empty(10);
    for (int64_t label = 0; label < 10; ++label) {
      images.push_back(
          test.images.slice(0, first_of[static_cast<size_t>(label)], first_of[static_cast<size_t>(label)] + 1));
      right.push_back(fashion_class_prompt(label));
      wrong.push_back(fashion_class_prompt((label + 5) % 10));
    }
    const Tensor x0 = concat(images, 0);  // (10, 1, 32, 32)
    const Tokenizer::Batch bu = tok.encode_batch(empty), br = tok.encode_batch(right), bw = tok.encode_batch(wrong);
    const Variable cu = model.text_encoder.forward(bu.ids, bu.mask), cr = model.text_encoder.forward(br.ids, br.mask),
                   cw = model.text_encoder.forward(bw.ids, bw.mask);
    Series own{.title = "own class prompt", .color = "#2171b5"},
        other{.title = "another class's prompt", .color = "#cb181d"};
    Generator g(5);
    fmt::print("{:>6} {:>28} {:>28}\n", "t", "|eps_c - eps_null|/|eps_null|", "same, another class's prompt");
    for (int64_t paper_t : {1, 20, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}) {
      const Tensor t = Tensor::from_indices(std::vector<int64_t>(10, paper_t - 1), {10});
      const Tensor x_t = q_sample(x0, t, g.normal(x0.shape()), schedule);
      const Tensor eu = model.unet.forward(Variable(x_t), t, cu, bu.mask).value();
      const Tensor er = model.unet.forward(Variable(x_t), t, cr, br.mask).value();
      const Tensor ew = model.unet.forward(Variable(x_t), t, cw, bw.mask).value();
      const std::vector<double> nu = norms(eu), nr = norms(er - eu), nw = norms(ew - eu);
      double rr = 0.0, rw = 0.0;
      for (size_t i = 0; i < 10; ++i) rr += nr[i] / nu[i] / 10.0, rw += nw[i] / nu[i] / 10.0;
      fmt::print("{:>6} {:>28.3f} {:>28.3f}\n", paper_t, rr, rw);
      own.x.push_back(static_cast<double>(paper_t)), own.y.push_back(rr);
      other.x.push_back(static_cast<double>(paper_t)), other.y.push_back(rw);
    }
    own.with = other.with = "linespoints lw 2 pt 7 ps 0.6";
    save_figure(args.out, "t09_difference",
                Figure{.panels = {Chart{.title = "how much the prompt changes the noise estimate (10 test images, "
                                                 "one per class)",
                                        .xlabel = "t",
                                        .ylabel = "‖ε_θ(x_t, c) − ε_θ(x_t, ∅)‖ / ‖ε_θ(x_t, ∅)‖",
                                        .series = {own, other},
                                        .key = "top left"}},
                       .width = 800,
                       .height = 420});
  }

  heading("3. The same seeds at w = 0, 1, 3, 7");
  fmt::print("judge: the Fashion-MNIST classifier, {:.1f}% on {} test images{}\n", 100.0 * report.test_accuracy,
             report.test_images, report.loaded ? " (cached)" : "");
  const int64_t seeds = 2;
  std::vector<std::string> prompts;
  std::vector<int64_t> labels;
  for (int64_t r = 0; r < seeds; ++r)
    for (int64_t label = 0; label < 10; ++label)
      prompts.push_back(fashion_class_prompt(label)), labels.push_back(label);
  const Tensor label_tensor = Tensor::from_indices(labels, {static_cast<int64_t>(labels.size())});
  Generator noise(11);
  const Tensor x_T = noise.normal({static_cast<int64_t>(prompts.size()), C, S, S});  // the same noise for every w
  const std::vector<double> grid_scales = {0.0, 1.0, 3.0, 7.0};
  std::vector<Tensor> grid_images;  // one (20, 1, 32, 32) per w
  std::vector<std::string> row_labels;
  for (double w : grid_scales) {
    GenerateOptions opt;
    opt.sampler = image_sampler_options(args.sampler, sampler_steps);  // DDIM unless --sampler says otherwise
    opt.guidance = w;
    Generator unused(0);  // DDIM with eta = 0 draws no noise
    grid_images.push_back(generate_images(model, tok, schedule, prompts, x_T, unused, opt));
    row_labels.push_back(fmt::format("w = {}", w));
  }
  const Tensor at_one = grid_images[1];
  for (size_t k = 0; k < grid_scales.size(); ++k) {
    const Tensor& g = grid_images[k];
    const double agree = classification_accuracy(clf, g, label_tensor) * static_cast<double>(prompts.size());
    fmt::print(
        "w = {}: the classifier agrees with the prompt for {:.0f} of {}; RMS change from w = 1: {:.3f}; "
        "mean pixel {:.3f}\n",
        grid_scales[k], agree, prompts.size(), std::sqrt(mean((g - at_one) * (g - at_one)).item()), mean(g).item());
  }
  const std::vector<std::string> names(fashion_class_names().begin(), fashion_class_names().end());
  Chart grid = grid_chart(concat(grid_images, 0), 10,
                          fmt::format("the same {} starting noises at four guidance scales", prompts.size()), names,
                          row_labels, seeds);
  grid.extra += "\nset xtics rotate by 35 right";
  save_figure(args.out, "t09_grid", Figure{.panels = {grid}, .width = 820, .height = 760, .palette = true});

  heading("4. Following the prompt against diversity");
  const int64_t per_class = args.quick ? 3 : 20;
  const std::vector<double> scales = args.quick ? std::vector<double>{0.0, 1.0, 3.0}
                                                : std::vector<double>{0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0};
  std::vector<std::string> sweep_prompts;
  std::vector<int64_t> sweep_labels;
  for (int64_t label = 0; label < 10; ++label)
    for (int64_t i = 0; i < per_class; ++i)
      sweep_prompts.push_back(fashion_class_prompt(label)), sweep_labels.push_back(label);
  const Tensor sweep_truth = Tensor::from_indices(sweep_labels, {static_cast<int64_t>(sweep_labels.size())});
  Generator sweep_noise(12);
  const Tensor sweep_x_T = sweep_noise.normal({static_cast<int64_t>(sweep_prompts.size()), C, S, S});
  // Real test images, per_class of each class: the classifier's accuracy and the diversity of real data.
  std::vector<Tensor> real;
  std::vector<int64_t> real_labels, taken(10, 0);
  for (int64_t i = 0; i < test.labels.size(0); ++i) {
    const auto label = static_cast<int64_t>(test.labels.at({i}));
    if (taken[static_cast<size_t>(label)]++ < per_class)
      real.push_back(test.images.slice(0, i, i + 1)), real_labels.push_back(label);
  }
  const auto diversity = [&](const Tensor& images, const std::vector<int64_t>& of) {  // mean over classes
    double d = 0.0;
    for (int64_t label = 0; label < 10; ++label) {
      std::vector<Tensor> members;
      for (size_t i = 0; i < of.size(); ++i)
        if (of[i] == label) members.push_back(images.slice(0, static_cast<int64_t>(i), static_cast<int64_t>(i) + 1));
      d += mean_pairwise_rms(concat(members, 0)) / 10.0;
    }
    return d;
  };
  const Tensor real_images = concat(real, 0);
  const double real_accuracy = classification_accuracy(
      clf, real_images, Tensor::from_indices(real_labels, {static_cast<int64_t>(real_labels.size())}));
  const double real_diversity = diversity(real_images, real_labels);
  fmt::print("{} images per class prompt, {} {} steps, the same noise for every w\n", per_class, sampler_steps,
             sampler_label(args.sampler));
  fmt::print("real test images ({} per class): accuracy {:.3f}, diversity {:.3f}\n", per_class, real_accuracy,
             real_diversity);
  fmt::print("{:>5} {:>9} {:>10} {:>9}\n", "w", "accuracy", "diversity", "seconds");
  Series acc{.title = "generated", .with = "linespoints lw 2 pt 7", .color = "#2171b5"};
  Series div{.title = "generated", .with = "linespoints lw 2 pt 7", .color = "#238b45"};
  Series trade{.title = "", .with = "linespoints lw 2 pt 7", .color = "#6a51a3"};
  std::string trade_labels;
  for (double w : scales) {
    GenerateOptions opt;
    opt.sampler = image_sampler_options(args.sampler, sampler_steps);  // DDIM unless --sampler says otherwise
    opt.guidance = w;
    Generator unused(0);
    const auto start = std::chrono::steady_clock::now();
    const Tensor images = generate_images(model, tok, schedule, sweep_prompts, sweep_x_T, unused, opt);
    const double a = classification_accuracy(clf, images, sweep_truth), d = diversity(images, sweep_labels);
    fmt::print("{:>5} {:>9.3f} {:>10.3f} {:>9.1f}\n", w, a, d, seconds_since(start));
    acc.x.push_back(w), acc.y.push_back(a);
    div.x.push_back(w), div.y.push_back(d);
    trade.x.push_back(d), trade.y.push_back(a);
    trade_labels += fmt::format("set label \"w = {}\" at {:.6g},{:.6g} offset 0.6,0.6 font \",9\"\n", w, d, a);
  }
  const double w_max = scales.back();
  const auto level = [&](const std::string& title, double y, const std::string& color) {
    return Series{.title = title, .x = {0.0, w_max}, .y = {y, y}, .with = "lines lw 1.5 dt 2", .color = color};
  };
  save_figure(
      args.out, "t09_tradeoff",
      Figure{.panels = {Chart{.title = "prompt accuracy (the classifier's verdict)",
                              .xlabel = "guidance scale w",
                              .series = {acc, level("real test images", real_accuracy, "#6baed6")},
                              .yrange = {{0.0, 1.0}},
                              .key = "bottom right"},
                        Chart{.title = "diversity: mean RMS distance within a prompt",
                              .xlabel = "guidance scale w",
                              .series = {div, level("real test images", real_diversity, "#74c476")},
                              .key = "top right"},
                        Chart{.title = "the trade-off",
                              .xlabel = "diversity",
                              .ylabel = "prompt accuracy",
                              .series = {trade},
                              .key = "off",
                              .extra = trade_labels + "set offsets graph 0.03, graph 0.15, graph 0.06, graph 0.03"}},
             .columns = 3,
             .width = 1500,
             .height = 430});
  fmt::print("\nfigures: t09_difference.png t09_grid.png t09_tradeoff.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_09_guidance", argc, argv, [&] { return tutorial_main(argc, argv); });
}
