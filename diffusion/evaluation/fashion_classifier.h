/// \file
/// \brief `FashionClassifier`: a small CNN trained by tinydiff on Fashion-MNIST, the judge of generated images.
///
/// Evaluating a text-to-image model on Fashion-MNIST needs a network that knows what the ten
/// classes look like: it decides whether a sample for "a photo of a sneaker" is a sneaker
/// (*prompt accuracy*), and its penultimate activations are the feature space in which the
/// Fréchet distance between generated and real images is measured (see frechet.h). The
/// Inception network of the usual FID (Heusel et al., "GANs Trained by a Two Time-Scale Update
/// Rule Converge to a Local Nash Equilibrium", NeurIPS 2017) is not available offline and is
/// trained on other images, so tinydiff trains its own judge on the real training set.
///
/// Architecture (inputs are the 32x32 padded images of fashion_mnist.h, in [-1, 1]):
///
///     conv1  3x3, 1 -> 32,  stride 1  -> GroupNorm(8) -> SiLU      (B, 32, 32, 32)
///     conv2  3x3, 32 -> 64, stride 2  -> GroupNorm(8) -> SiLU      (B, 64, 16, 16)
///     conv3  3x3, 64 -> 64, stride 2  -> GroupNorm(8) -> SiLU      (B, 64, 8, 8)
///     conv4  3x3, 64 -> 128, stride 2 -> GroupNorm(8) -> SiLU      (B, 128, 4, 4)
///     flatten -> fc 2048 -> 128 -> SiLU                            (B, 128)  = features
///     head 128 -> 10                                               (B, 10)   = logits
///
/// Strided convolutions do the pooling. Training minimises the cross-entropy
/// \f$-\log \mathrm{softmax}(z)_y\f$ with AdamW, a short linear warm-up and cosine decay, and
/// random horizontal flips (every class is left-right symmetric as a category). With the
/// defaults (4 epochs over the 60,000 training images, batch 128, 1,876 steps) it reaches
/// 91.9% accuracy on the 10,000 test images (393,738 parameters; about 330 s of CPU time).
///
/// The trained weights are cached as a safetensors file (by default
/// `$XDG_CACHE_HOME/tinydiff/fashion_classifier.safetensors`, else
/// `~/.cache/tinydiff/fashion_classifier.safetensors`) with metadata recording the format
/// version, the test accuracy and how it was trained. `load_or_train_fashion_classifier`
/// reuses that file, and rebuilds it (with a warning) when it is unreadable, corrupt or from
/// another architecture.
///
/// Usage:
/// \code
///   Generator gen(0);
///   FashionClassifier clf(gen);
///   FashionClassifierReport r = load_or_train_fashion_classifier(default_classifier_path(), clf, {},
///       [](const std::string& line) { fmt::print("{}\n", line); });
///   Tensor f = clf.features(images);     // images: (N, 1, 32, 32) -> (N, 128)
///   Tensor y = clf.predict(images);      // (N) int64 class indices
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "diffusion/data/fashion_mnist.h"
#include "nn/nn.h"

namespace tinydiff {

/// The small CNN of the file overview.
class FashionClassifier : public Module {
 public:
  /// Width of the feature vector (the penultimate layer).
  static constexpr int64_t kFeatureDim = 128;
  /// Number of classes.
  static constexpr int64_t kClasses = 10;
  /// Side of the input images.
  static constexpr int64_t kImageSize = 32;

  /// Builds the network with PyTorch's default initialisation drawn from `gen`.
  explicit FashionClassifier(Generator& gen);

  /// images: (B, 1, 32, 32) -> features (B, 128), recorded for autograd.
  Variable forward_features(const Variable& images) const;
  /// images: (B, 1, 32, 32) -> logits (B, 10), recorded for autograd.
  Variable forward(const Variable& images) const;

  /// Features (N, 128) float32 of images (N, 1, 32, 32), without a graph, `batch` images at a time.
  Tensor features(const Tensor& images, int64_t batch = 250) const;
  /// Logits (N, 10) float32, without a graph, `batch` images at a time.
  Tensor logits(const Tensor& images, int64_t batch = 250) const;
  /// Predicted class indices (N) int64 (the argmax of the logits).
  Tensor predict(const Tensor& images, int64_t batch = 250) const;

  Conv2d conv1;     ///< 1 -> 32, 32x32
  GroupNorm norm1;  ///< after conv1
  Conv2d conv2;     ///< 32 -> 64, stride 2 to 16x16
  GroupNorm norm2;  ///< after conv2
  Conv2d conv3;     ///< 64 -> 64, stride 2 to 8x8
  GroupNorm norm3;  ///< after conv3
  Conv2d conv4;     ///< 64 -> 128, stride 2 to 4x4
  GroupNorm norm4;  ///< after conv4
  Linear fc;        ///< 2048 -> 128 (the features, after SiLU)
  Linear head;      ///< 128 -> 10

 private:
  // Runs the network on slices of `batch` images (features or logits), concatenated along axis 0.
  Tensor batched(const Tensor& images, int64_t batch, bool want_logits, const char* op) const;
};

/// How to train the classifier.
struct FashionClassifierTrainOptions {
  int64_t epochs = 4;                       ///< passes over the training images
  int64_t batch_size = 128;                 ///< images per step
  double lr = 2e-3;                         ///< AdamW peak learning rate
  double weight_decay = 1e-2;               ///< AdamW decoupled weight decay
  int64_t warmup_steps = 100;               ///< linear warm-up, then cosine decay to 0
  int64_t train_limit = -1;                 ///< use the first `train_limit` training images (-1: all 60,000)
  int64_t test_limit = -1;                  ///< measure on the first `test_limit` test images (-1: all 10,000)
  bool flip = true;                         ///< random horizontal flips of half the images
  uint64_t seed = 0;                        ///< seeds shuffling and flips (and the fresh weights of a retrain)
  std::string data_dir = kFashionMnistDir;  ///< where the IDX files are
  /// Called after every step: (epoch 1..epochs, step 1..total, total steps, loss of the step).
  std::function<void(int64_t epoch, int64_t step, int64_t total_steps, double loss)> progress;
};

/// What a trained (or loaded) classifier reports about itself.
struct FashionClassifierReport {
  double test_accuracy = 0.0;  ///< fraction of the test images classified correctly
  int64_t test_images = 0;     ///< how many test images that was measured on
  int64_t train_images = 0;    ///< training images used
  int64_t epochs = 0;          ///< passes over them
  int64_t steps = 0;           ///< optimizer steps
  double seconds = 0.0;        ///< wall time of the training
  bool loaded = false;         ///< true when read from a cache file rather than trained now
};

/// Fraction of `images` (N, 1, 32, 32) whose predicted class equals `labels` (N) int64.
double classification_accuracy(const FashionClassifier& model, const Tensor& images, const Tensor& labels);

/// Trains `model` from its current weights on the Fashion-MNIST training set (see the file
/// overview), then measures the test accuracy. Throws Error when the data cannot be read.
/// Trains in any gradient mode, inside a NoGradGuard too (it opens an EnableGradGuard).
FashionClassifierReport train_fashion_classifier(FashionClassifier& model,
                                                 const FashionClassifierTrainOptions& options);

/// The metadata value of "format" in a classifier file.
inline constexpr const char* kFashionClassifierFormat = "tinydiff-fashion-classifier-v1";

/// Writes the weights and the report as safetensors (atomically) to `path`, creating its folder.
void save_fashion_classifier(const std::string& path, const FashionClassifier& model,
                             const FashionClassifierReport& report);

/// Loads weights written by save_fashion_classifier into `model` and returns the stored report
/// (with `loaded` set). Throws Error naming the file when it is missing, corrupt, of another
/// format or architecture.
FashionClassifierReport load_fashion_classifier(const std::string& path, FashionClassifier& model);

/// `$XDG_CACHE_HOME/tinydiff/fashion_classifier.safetensors`, else
/// `$HOME/.cache/tinydiff/fashion_classifier.safetensors`, else a file in the current folder.
std::string default_classifier_path();

/// Loads the classifier cached at `path`; when the file does not exist, trains one with
/// `options` and saves it there; when it exists but cannot be loaded, reports a warning through
/// `log` ("warning: ...; retraining") and rebuilds it. A cache that cannot be written is
/// reported through `log` too, and the trained classifier is still returned.
FashionClassifierReport load_or_train_fashion_classifier(const std::string& path, FashionClassifier& model,
                                                         const FashionClassifierTrainOptions& options,
                                                         const std::function<void(const std::string&)>& log);

}  // namespace tinydiff
