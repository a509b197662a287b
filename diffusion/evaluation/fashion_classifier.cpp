#include "diffusion/evaluation/fashion_classifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "autograd/autograd.h"
#include "diffusion/data/dataset.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "tensor/tensor.h"

namespace tinydiff {

FashionClassifier::FashionClassifier(Generator& gen)
    : conv1({.in_channels = 1, .out_channels = 32, .kernel_size = 3, .stride = 1, .padding = 1}, gen),
      norm1({.num_groups = 8, .num_channels = 32}),
      conv2({.in_channels = 32, .out_channels = 64, .kernel_size = 3, .stride = 2, .padding = 1}, gen),
      norm2({.num_groups = 8, .num_channels = 64}),
      conv3({.in_channels = 64, .out_channels = 64, .kernel_size = 3, .stride = 2, .padding = 1}, gen),
      norm3({.num_groups = 8, .num_channels = 64}),
      conv4({.in_channels = 64, .out_channels = 128, .kernel_size = 3, .stride = 2, .padding = 1}, gen),
      norm4({.num_groups = 8, .num_channels = 128}),
      fc({.in_features = 128 * 4 * 4, .out_features = kFeatureDim}, gen),
      head({.in_features = kFeatureDim, .out_features = kClasses}, gen) {
  register_module("conv1", conv1);
  register_module("norm1", norm1);
  register_module("conv2", conv2);
  register_module("norm2", norm2);
  register_module("conv3", conv3);
  register_module("norm3", norm3);
  register_module("conv4", conv4);
  register_module("norm4", norm4);
  register_module("fc", fc);
  register_module("head", head);
}

Variable FashionClassifier::forward_features(const Variable& images) const {
  TD_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == kImageSize && images.size(3) == kImageSize,
           "FashionClassifier", fmt::format("images of shape {}: expected (B, 1, 32, 32)", shape_str(images.shape())));
  Variable h = silu(norm1.forward(conv1.forward(images)));  // (B, 32, 32, 32)
  h = silu(norm2.forward(conv2.forward(h)));                // (B, 64, 16, 16)
  h = silu(norm3.forward(conv3.forward(h)));                // (B, 64, 8, 8)
  h = silu(norm4.forward(conv4.forward(h)));                // (B, 128, 4, 4)
  h = flatten(h, 1);                                        // (B, 2048)
  return silu(fc.forward(h));                               // (B, 128)
}

Variable FashionClassifier::forward(const Variable& images) const {
  return head.forward(forward_features(images));  // (B, 10)
}

Tensor FashionClassifier::batched(const Tensor& images, int64_t batch, bool want_logits, const char* op) const {
  TD_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 1 && images.size(2) == kImageSize &&
               images.size(3) == kImageSize,
           op,
           fmt::format("images of shape {}: expected (N, 1, 32, 32)",
                       images.defined() ? shape_str(images.shape()) : std::string("(undefined)")));
  TD_CHECK(batch > 0, op, fmt::format("batch must be positive, got {}", batch));
  NoGradGuard no_grad;
  const int64_t n = images.size(0);
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t end = std::min(n, start + batch);
    Variable x(images.slice(0, start, end).to(DType::F32));  // (b, 1, 32, 32)
    Variable y = want_logits ? forward(x) : forward_features(x);
    parts.push_back(y.value());
  }
  if (parts.empty()) return Tensor::zeros({0, want_logits ? kClasses : kFeatureDim});
  return parts.size() == 1 ? parts[0].contiguous() : concat(parts, 0);
}

Tensor FashionClassifier::features(const Tensor& images, int64_t batch) const {
  return batched(images, batch, false, "FashionClassifier::features");
}

Tensor FashionClassifier::logits(const Tensor& images, int64_t batch) const {
  return batched(images, batch, true, "FashionClassifier::logits");
}

Tensor FashionClassifier::predict(const Tensor& images, int64_t batch) const {
  return argmax(logits(images, batch), 1);  // (N) int64
}

double classification_accuracy(const FashionClassifier& model, const Tensor& images, const Tensor& labels) {
  TD_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.dim() == 1 && images.defined() &&
               images.dim() >= 1 && labels.size(0) == images.size(0),
           "classification_accuracy",
           fmt::format("labels {} must be int64 (N) with one label per image of {}",
                       labels.defined() ? shape_str(labels.shape()) : "(undefined)",
                       images.defined() ? shape_str(images.shape()) : "(undefined)"));
  const int64_t n = labels.size(0);
  if (n == 0) return 0.0;
  const Tensor pred = model.predict(images);
  const Tensor truth = labels.contiguous();
  const int64_t* p = pred.data<int64_t>();
  const int64_t* t = truth.data<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += p[i] == t[i] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(n);
}

FashionClassifierReport train_fashion_classifier(FashionClassifier& model,
                                                 const FashionClassifierTrainOptions& options) {
  const char* op = "train_fashion_classifier";
  TD_CHECK(options.epochs > 0 && options.batch_size > 0 && options.lr > 0 && options.warmup_steps >= 0, op,
           fmt::format("epochs ({}), batch_size ({}) and lr ({}) must be positive, warmup_steps ({}) non-negative",
                       options.epochs, options.batch_size, options.lr, options.warmup_steps));
  const auto start = std::chrono::steady_clock::now();
  const FashionMnist train = load_fashion_mnist(FashionSplit::Train, options.data_dir, options.train_limit);
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test, options.data_dir, options.test_limit);
  const int64_t n = train.images.size(0);
  TD_CHECK(n > 0, op, "no training images");

  Generator gen(options.seed);
  model.train();
  EnableGradGuard enable_grad;  // train even when the caller is inside a NoGradGuard (tutorial 9 is)
  AdamW opt(model.named_parameters(), {.lr = options.lr, .weight_decay = options.weight_decay});
  const int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  const int64_t total = steps_per_epoch * options.epochs;
  const LrSchedule schedule{.lr = options.lr,
                            .warmup_steps = std::min(options.warmup_steps, total),
                            .total_steps = total,
                            .min_lr = 0.0,
                            .decay = LrDecay::Cosine};
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    const Tensor order = gen.randperm(n);  // (n) int64
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t begin = s * options.batch_size;
      const int64_t end = std::min(n, begin + options.batch_size);
      const Tensor index = order.slice(0, begin, end).contiguous();                       // (b) int64
      Tensor x = index_select(train.images, 0, index).contiguous();                       // (b, 1, 32, 32)
      const Tensor y = index_select(train.labels, 0, index);                              // (b)
      if (options.flip) x = flip_horizontal_where(x, gen.bernoulli({end - begin}, 0.5));  // dataset.h
      opt.set_lr(scheduled_lr(schedule, step));
      opt.zero_grad();
      Variable loss = cross_entropy(model.forward(Variable(x)), y);
      loss.backward();
      opt.step();
      ++step;
      if (options.progress) options.progress(epoch, step, total, loss.item());
    }
  }
  model.eval();
  FashionClassifierReport report;
  report.test_accuracy = classification_accuracy(model, test.images, test.labels);
  report.test_images = test.images.size(0);
  report.train_images = n;
  report.epochs = options.epochs;
  report.steps = step;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

void save_fashion_classifier(const std::string& path, const FashionClassifier& model,
                             const FashionClassifierReport& report) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    TD_CHECK(!ec, "save_fashion_classifier",
             fmt::format("{}: cannot create the folder {}: {}", path, parent.string(), ec.message()));
  }
  const std::map<std::string, std::string> metadata = {{"format", kFashionClassifierFormat},
                                                       {"test_accuracy", fmt::format("{:.6f}", report.test_accuracy)},
                                                       {"test_images", std::to_string(report.test_images)},
                                                       {"train_images", std::to_string(report.train_images)},
                                                       {"epochs", std::to_string(report.epochs)},
                                                       {"steps", std::to_string(report.steps)},
                                                       {"seconds", fmt::format("{:.1f}", report.seconds)}};
  save_safetensors(path, state_dict(model), metadata);
}

namespace {

// The metadata value under `key`, parsed as a number; throws Error naming the file.
double metadata_number(const std::map<std::string, std::string>& meta, const std::string& key,
                       const std::string& path) {
  const auto it = meta.find(key);
  TD_CHECK(it != meta.end(), "load_fashion_classifier", fmt::format("{}: metadata has no '{}'", path, key));
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  TD_CHECK(!it->second.empty() && end != nullptr && *end == '\0', "load_fashion_classifier",
           fmt::format("{}: metadata '{}' is '{}', not a number", path, key, it->second));
  return v;
}

}  // namespace

FashionClassifierReport load_fashion_classifier(const std::string& path, FashionClassifier& model) {
  const char* op = "load_fashion_classifier";
  TD_CHECK(std::filesystem::exists(path), op, fmt::format("{}: no such file", path));
  const SafetensorsData data = load_safetensors(path);
  const auto format = data.metadata.find("format");
  TD_CHECK(format != data.metadata.end() && format->second == kFashionClassifierFormat, op,
           fmt::format("{}: not a classifier file of format '{}' (metadata 'format' is '{}')", path,
                       kFashionClassifierFormat, format == data.metadata.end() ? "" : format->second));
  FashionClassifierReport report;
  report.test_accuracy = metadata_number(data.metadata, "test_accuracy", path);
  report.test_images = static_cast<int64_t>(metadata_number(data.metadata, "test_images", path));
  report.train_images = static_cast<int64_t>(metadata_number(data.metadata, "train_images", path));
  report.epochs = static_cast<int64_t>(metadata_number(data.metadata, "epochs", path));
  report.steps = static_cast<int64_t>(metadata_number(data.metadata, "steps", path));
  report.seconds = metadata_number(data.metadata, "seconds", path);
  report.loaded = true;
  try {
    load_state_dict(model, data.tensors);
  } catch (const Error& e) {
    throw Error(op, fmt::format("{}: {}", path, e.what()));
  }
  model.eval();
  return report;
}

std::string default_classifier_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  std::filesystem::path base;
  if (xdg != nullptr && xdg[0] != '\0') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    base = std::filesystem::path(home) / ".cache";
  } else {
    return "fashion_classifier.safetensors";
  }
  return (base / "tinydiff" / "fashion_classifier.safetensors").string();
}

FashionClassifierReport load_or_train_fashion_classifier(const std::string& path, FashionClassifier& model,
                                                         const FashionClassifierTrainOptions& options,
                                                         const std::function<void(const std::string&)>& log) {
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    try {
      return load_fashion_classifier(path, model);
    } catch (const Error& e) {
      say(fmt::format("warning: the classifier cache is unreadable ({}); retraining it", e.what()));
    }
  } else {
    say(fmt::format("no classifier at {}; training one on the Fashion-MNIST training set", path));
  }
  // Start from fresh weights: a failed load may have left nothing changed, but a retrain from a
  // seed should not depend on what was in the file.
  Generator gen(options.seed);
  FashionClassifier fresh(gen);
  load_state_dict(model, state_dict(fresh));
  FashionClassifierReport report = train_fashion_classifier(model, options);
  try {
    save_fashion_classifier(path, model, report);
    say(fmt::format("saved the classifier to {}", path));
  } catch (const Error& e) {
    say(fmt::format("warning: could not cache the classifier ({}); continuing without the cache", e.what()));
  }
  return report;
}

}  // namespace tinydiff
