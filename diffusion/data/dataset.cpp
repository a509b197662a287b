// Training data sets for the text-to-image trainer. See dataset.h.
#include "diffusion/data/dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "diffusion/data/captions.h"
#include "diffusion/data/image_folder_data.h"
#include "diffusion/data/shapes.h"

namespace tinydiff {
namespace {

void check_batch(int64_t batch, const char* op) {
  TD_CHECK(batch > 0, op, fmt::format("batch must be positive, got {}", batch));
}

// Checks a range [begin, begin + count) of examples of a set of n.
void check_range(int64_t begin, int64_t count, int64_t n, const char* op) {
  TD_CHECK(begin >= 0 && count >= 0 && begin + count <= n, op,
           fmt::format("examples [{}, {}) are outside the set's {} stored examples{}", begin, begin + count, n,
                       n == 0 ? " (it draws its images on the fly)" : ""));
}

// An index in [0, n) from a uniform u in [0, 1).
int pick(double u, size_t n) { return std::min(static_cast<int>(u * static_cast<double>(n)), static_cast<int>(n) - 1); }

class FashionData : public TrainingData {
 public:
  FashionData(FashionMnist data, bool flip) : data_(std::move(data)), flip_(flip) {}

  std::string name() const override { return "fashion"; }
  int64_t image_channels() const override { return 1; }
  int64_t image_size() const override { return data_.images.size(2); }

  TrainingBatch next_batch(Generator& gen, int64_t batch) const override {
    check_batch(batch, "FashionData::next_batch");
    const int64_t n = data_.images.size(0);
    // Draw order (fixed, for exact replay): indices, then caption choices, then flips.
    const Tensor index = gen.randint(0, n, {batch});                      // (B) int64
    const Tensor choice = gen.uniform({batch, 2}, 0.0, 1.0, DType::F64);  // (B, 2): template, word
    TrainingBatch out;
    out.images = index_select(data_.images, 0, index);  // (B, 1, S, S)
    const int64_t* idx = index.data<int64_t>();
    const double* u = choice.data<double>();
    const int64_t* labels = data_.labels.data<int64_t>();
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t label = labels[idx[i]];
      const int t = pick(u[2 * i], static_cast<size_t>(fashion_caption_template_count()));
      const int w = pick(u[2 * i + 1], fashion_class_words(label).size());
      out.captions.push_back(fashion_caption(label, t, w));
    }
    if (flip_) out.images = flip_horizontal_where(out.images, gen.bernoulli({batch}, 0.5));
    return out;
  }

  std::vector<std::string> vocabulary_captions() const override { return all_fashion_captions(); }
  std::vector<std::string> preview_prompts() const override { return fashion_class_prompts(); }
  int64_t example_count() const override { return data_.images.size(0); }

  TrainingBatch examples(int64_t begin, int64_t count) const override {
    check_range(begin, count, example_count(), "FashionData::examples");
    const std::vector<std::string> prompts = fashion_class_prompts();
    const int64_t* labels = data_.labels.data<int64_t>();
    TrainingBatch out;
    out.images = data_.images.slice(0, begin, begin + count).contiguous();  // (count, 1, S, S)
    for (int64_t i = begin; i < begin + count; ++i) out.captions.push_back(prompts[static_cast<size_t>(labels[i])]);
    return out;
  }

 private:
  FashionMnist data_;
  bool flip_;
};

class ShapesData : public TrainingData {
 public:
  explicit ShapesData(bool flip) : flip_(flip) {}

  std::string name() const override { return "shapes"; }
  int64_t image_channels() const override { return 3; }
  int64_t image_size() const override { return kShapesImageSize; }

  TrainingBatch next_batch(Generator& gen, int64_t batch) const override {
    check_batch(batch, "ShapesData::next_batch");
    // A flip would move a shape to the mirrored grid cell and contradict its caption, so
    // Shapes ignores the flip option.
    (void)flip_;
    ShapesBatch b = sample_shapes(gen, batch, /*training=*/true);
    return {std::move(b.images), std::move(b.captions)};
  }

  std::vector<std::string> vocabulary_captions() const override {
    std::vector<std::string> out;
    for (const ShapeAttributes& a : all_shape_attributes())
      for (int t = 0; t < shapes_caption_templates(); ++t) out.push_back(shapes_caption(a, t));
    return out;
  }

  std::vector<std::string> preview_prompts() const override {
    // Five seen combinations, then the three held-out (shape, colour) pairs.
    const std::vector<ShapeAttributes> fixed = {
        {0, 0, 1, 4},  // large red circle in the center
        {1, 2, 0, 0},  // small blue square at the top left
        {2, 6, 1, 8},  // large white triangle at the bottom right
        {0, 5, 0, 5},  // small cyan circle on the right
        {1, 3, 1, 1},  // large yellow square at the top
        {2, 1, 1, 4},  // held out: large green triangle
        {0, 3, 1, 4},  // held out: large yellow circle
        {1, 4, 1, 4},  // held out: large magenta square
    };
    std::vector<std::string> out;
    for (const auto& a : fixed) out.push_back(shapes_caption(a));
    return out;
  }

  int64_t example_count() const override { return 0; }  // drawn on the fly

  TrainingBatch examples(int64_t begin, int64_t count) const override {
    check_range(begin, count, example_count(), "ShapesData::examples");
    return {Tensor::zeros({0, 3, kShapesImageSize, kShapesImageSize}), {}};  // (0, 3, S, S)
  }

 private:
  bool flip_;
};

}  // namespace

std::vector<std::string> training_data_names() { return {"fashion", "shapes", "folder"}; }

int64_t training_data_channels(const std::string& name) {
  if (name == "fashion") return 1;
  if (name == "shapes") return 3;
  if (name == "folder") return 0;
  throw Error("training_data", fmt::format("unknown data set '{}'; choose one of: fashion, shapes, folder", name));
}

std::unique_ptr<TrainingData> make_training_data(const std::string& name, const DataOptions& options) {
  training_data_channels(name);  // checks the name
  if (name == "folder") return make_image_folder_data(load_image_folder(options.folder), options.flip);
  if (name == "fashion")
    return std::make_unique<FashionData>(
        load_fashion_mnist(FashionSplit::Train, options.fashion_dir, options.fashion_limit, true), options.flip);
  return std::make_unique<ShapesData>(options.flip);
}

Tensor flip_horizontal_where(const Tensor& images, const Tensor& flip) {
  TD_CHECK(images.dim() == 4 && images.dtype() == DType::F32, "flip_horizontal_where",
           fmt::format("expected float32 images (B, C, H, W), got {} {}", dtype_name(images.dtype()),
                       shape_str(images.shape())));
  TD_CHECK(flip.dim() == 1 && flip.size(0) == images.size(0), "flip_horizontal_where",
           fmt::format("expected flip (B) with B = {}, got {}", images.size(0), shape_str(flip.shape())));
  Tensor out = images.contiguous().clone();  // out: (B, C, H, W)
  const std::vector<double> f = flip.to_vector();
  const int64_t rows = images.size(1) * images.size(2), w = images.size(3);
  float* p = out.data<float>();
  for (int64_t b = 0; b < images.size(0); ++b) {
    if (f[static_cast<size_t>(b)] == 0.0) continue;
    for (int64_t r = 0; r < rows; ++r) std::reverse(p + (b * rows + r) * w, p + (b * rows + r + 1) * w);
  }
  return out;
}

}  // namespace tinydiff
