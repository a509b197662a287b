// `tinydiff train-classifier`: trains the Fashion-MNIST classifier that `tinydiff eval` uses as
// its judge, prints its test accuracy and caches it.
#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "diffusion/evaluation/fashion_classifier.h"
#include "nn/atomic_file.h"

namespace tinydiff::cli {
namespace {

struct ClassifierArgs {
  std::string out, data_dir = kFashionMnistDir;
  FashionClassifierTrainOptions options;
  int threads = 0;
};

void check_args(const ClassifierArgs& a) {
  const auto usage = [](const std::string& problem, const std::string& hint) {
    throw CliError(kExitUsage, problem, hint);
  };
  const FashionClassifierTrainOptions& o = a.options;
  if (o.epochs < 1) usage(fmt::format("--epochs must be at least 1, got {}", o.epochs), "the default trains 4 epochs");
  if (o.batch_size < 1) usage(fmt::format("--batch must be at least 1, got {}", o.batch_size), "the default is 128");
  if (!(o.lr > 0 && std::isfinite(o.lr)))
    usage(fmt::format("--lr must be positive, got {}", o.lr), "the default is 0.002");
  if (o.train_limit == 0 || o.train_limit < -1)
    usage(fmt::format("--train-images must be positive (or -1 for all), got {}", o.train_limit),
          "the default uses all 60,000");
  if (a.threads < 0) usage(fmt::format("--threads must not be negative, got {}", a.threads), "0 uses every core");
}

// Checks that `path` can be written (creating its folder) before minutes of training.
void check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw CliError(kExitBadFile, fmt::format("--out '{}' is a folder", path),
                   "give a file name such as classifier.safetensors");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string probe = ((parent.empty() ? fs::path(".") : parent) / ".tinydiff-write-test").string();
  try {
    write_file_atomic(probe, "");
    fs::remove(probe, ec);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot write --out '{}': {}", path, e.what()),
                   "choose a folder you can write to");
  }
}

void run_train_classifier(ClassifierArgs a) {
  check_args(a);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const std::string out = a.out.empty() ? default_classifier_path() : a.out;
  check_writable(out);
  a.options.data_dir = a.data_dir;
  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  double loss_sum = 0.0;
  int64_t loss_count = 0;
  a.options.progress = [&](int64_t epoch, int64_t step, int64_t total, double loss) {
    loss_sum += loss;
    ++loss_count;
    const auto now = std::chrono::steady_clock::now();
    const bool epoch_end = step % (total / a.options.epochs) == 0;  // total is a multiple of epochs
    if (epoch_end || now - last_print >= std::chrono::seconds(15)) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      std::fputs(fmt::format("tinydiff: epoch {}/{}  step {}/{}  loss {:.4f}  {:.0f} s\n", epoch, a.options.epochs,
                             step, total, loss_sum / static_cast<double>(loss_count), elapsed)
                     .c_str(),
                 stdout);
      std::fflush(stdout);
      last_print = now;
      loss_sum = 0.0;
      loss_count = 0;
    }
  };
  std::fputs(fmt::format("tinydiff: training the Fashion-MNIST classifier ({} epochs, batch {}, {} threads)\n",
                         a.options.epochs, a.options.batch_size, omp_get_max_threads())
                 .c_str(),
             stdout);
  Generator gen(a.options.seed);
  FashionClassifier model(gen);
  FashionClassifierReport report;
  try {
    report = train_fashion_classifier(model, a.options);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot train the classifier: {}", e.what()),
                   "install Debian's dataset-fashion-mnist or pass --data-dir");
  }
  try {
    save_fashion_classifier(out, model, report);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot save the classifier: {}", e.what()),
                   "check free disk space and that --out is writable");
  }
  std::fputs(fmt::format("tinydiff: test accuracy {:.4f} on {} test images ({} training images, {} epoch{}, {} steps, "
                         "{:.0f} s)\ntinydiff: saved {}\n",
                         report.test_accuracy, report.test_images, report.train_images, report.epochs,
                         report.epochs == 1 ? "" : "s", report.steps, report.seconds, out)
                 .c_str(),
             stdout);
}

}  // namespace

void add_train_classifier_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "train-classifier", "Train the Fashion-MNIST classifier that 'tinydiff eval' scores samples with, and cache it");
  auto a = std::make_shared<ClassifierArgs>();
  sub->add_option("--out", a->out, "Where to save it (default: ~/.cache/tinydiff/fashion_classifier.safetensors)");
  sub->add_option("--epochs", a->options.epochs, "Passes over the training images")->capture_default_str();
  sub->add_option("--batch", a->options.batch_size, "Images per step")->capture_default_str();
  sub->add_option("--lr", a->options.lr, "Peak learning rate of AdamW")->capture_default_str();
  sub->add_option("--train-images", a->options.train_limit, "Use only the first N training images (-1: all)")
      ->capture_default_str();
  sub->add_option("--seed", a->options.seed, "Seed of the weights, the shuffling and the flips")->capture_default_str();
  sub->add_option("--data-dir", a->data_dir, "Folder of the Fashion-MNIST IDX files")->capture_default_str();
  sub->add_option("--threads", a->threads, "Threads (0: every core)")->capture_default_str();
  sub->callback([a] { run_train_classifier(*a); });
}

}  // namespace tinydiff::cli
