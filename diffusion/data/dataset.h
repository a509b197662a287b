/// \file
/// \brief `TrainingData`: where a text-to-image trainer gets its (images, captions) batches — Fashion-MNIST,
/// Shapes, or a folder of the user's captioned images.
///
/// A training data set hands out batches of images `(B, C, S, S)` in \f$[-1, 1]\f$ with one
/// caption each. Every random choice (which examples, which caption template, whether to
/// flip) is drawn from the `Generator` passed in, and from nothing else, so a trainer that
/// saves that generator's state in its checkpoint replays the exact same batches after a
/// resume. Batches are drawn independently and uniformly (with replacement): there is no
/// epoch position to save.
///
/// - **"fashion"**: the 60,000 Fashion-MNIST training images (fashion_mnist.h), loaded once,
///   padded to 32x32, one channel; captions from captions.h (a random template and class word
///   per example); optional random horizontal flips (off by default: Fashion-MNIST's shoes all
///   point the same way).
/// - **"shapes"**: Shapes images (shapes.h) rendered on the fly, three channels, with the
///   held-out (shape, colour) pairs never shown.
/// - **"folder"**: a folder of captioned images (`DataOptions::folder`, image_folder.h), decoded
///   and prepared once (or read from the cache) and kept in memory as bytes; each example keeps
///   its own caption; optional random horizontal flips. Its vocabulary captions are all the
///   captions, one per example (so a word's frequency is its count over the examples), and its
///   preview prompts up to eight different non-empty captions, evenly spaced in alphabetical order.
///
/// Preparing a batch is cheap next to a training step (a gather of 64 images, or rendering 64
/// shapes: about a millisecond against hundreds for the step), so it runs on the training
/// thread between steps, which keeps it trivially deterministic.
///
/// `vocabulary_captions()` lists every caption the set can produce; the trainer builds the
/// tokenizer from it, so the vocabulary does not depend on the seed. `preview_prompts()` are the
/// fixed prompts of the trainer's sample grids (the ten class prompts; for Shapes a fixed set
/// including held-out pairs).
///
/// `example_count()` and `examples()` give the stored examples in a fixed order (the
/// memorisation check of `tinydiff eval --nearest` compares samples with every training image
/// through them); a set drawn on the fly (Shapes) has none and says 0.
///
/// Usage:
/// \code
///   auto data = make_training_data("fashion");
///   Generator gen(1);
///   TrainingBatch b = data->next_batch(gen, 64);   // b.images: (64, 1, 32, 32); b.captions[0]: "a photo of a bag"
/// \endcode
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/data/fashion_mnist.h"
#include "diffusion/data/image_folder.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// One training batch.
struct TrainingBatch {
  Tensor images;                      ///< (B, C, S, S) float32 in [-1, 1]
  std::vector<std::string> captions;  ///< B captions
};

/// A source of (image, caption) training batches. See the file comment.
class TrainingData {
 public:
  virtual ~TrainingData() = default;
  /// The set's name as the command line spells it ("fashion", "shapes").
  virtual std::string name() const = 0;
  /// C: 1 (grayscale) or 3 (RGB).
  virtual int64_t image_channels() const = 0;
  /// S, the side of the square images.
  virtual int64_t image_size() const = 0;
  /// B random examples; every random choice is drawn from `gen`. Throws unless batch > 0.
  virtual TrainingBatch next_batch(Generator& gen, int64_t batch) const = 0;
  /// Every caption next_batch can produce, in a fixed order (for Tokenizer::build).
  virtual std::vector<std::string> vocabulary_captions() const = 0;
  /// The fixed prompts of the sample grids written during training.
  virtual std::vector<std::string> preview_prompts() const = 0;
  /// N, the number of stored examples `examples()` serves (Fashion-MNIST: its training images), or 0
  /// for a set drawn on the fly (Shapes), whose examples are whatever next_batch draws.
  virtual int64_t example_count() const = 0;
  /// Stored examples [begin, begin + count) in their fixed order: images (count, C, S, S) float32 in
  /// [-1, 1] as next_batch prepares them but never flipped, and one caption each (for Fashion-MNIST
  /// the class prompt "a photo of a ..."). Throws Error unless 0 <= begin <= begin + count <= example_count().
  virtual TrainingBatch examples(int64_t begin, int64_t count) const = 0;
  /// Lines for the training banner saying where the data came from and how it was prepared
  /// (empty for the built-in sets).
  virtual std::vector<std::string> describe() const { return {}; }
  /// The data's description as a JSON object for the checkpoint (image folders: folder, image
  /// count, preparation); "" for the built-in sets.
  virtual std::string metadata_json() const { return ""; }
};

/// Options of make_training_data.
struct DataOptions {
  bool flip = false;                           ///< random horizontal flips (probability 1/2)
  std::string fashion_dir = kFashionMnistDir;  ///< where the Fashion-MNIST IDX files are
  int64_t fashion_limit = -1;                  ///< > 0: use only the first so many training images
  ImageFolderOptions folder{};                 ///< "folder": the folder and its preparation (image_folder.h)
};

/// The names make_training_data accepts: "fashion", "shapes", "folder".
std::vector<std::string> training_data_names();

/// Image channels of the named set (1 for fashion, 3 for shapes, 0 for folder: they depend on the
/// folder), without loading it; throws Error listing the names for an unknown one.
int64_t training_data_channels(const std::string& name);

/// Makes the named data set (loading Fashion-MNIST takes about a second; a folder, its decoding
/// or cache). Throws Error listing the names for an unknown one, and naming the file when
/// Fashion-MNIST or the folder cannot be read (image_folder.h).
std::unique_ptr<TrainingData> make_training_data(const std::string& name, const DataOptions& options = {});

/// Flips images (B, C, H, W) left to right where `flip` (B) is nonzero; returns a new tensor.
Tensor flip_horizontal_where(const Tensor& images, const Tensor& flip);

}  // namespace tinydiff
