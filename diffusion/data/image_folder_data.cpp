// The "folder" training data set. See image_folder_data.h.
#include "diffusion/data/image_folder_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "tensor/dispatch.h"

namespace tinydiff {

namespace {

class FolderData : public TrainingData {
 public:
  FolderData(ImageFolder folder, bool hflip) : f_(std::move(folder)), hflip_(hflip) {
    TD_CHECK(f_.count() > 0, "make_image_folder_data", fmt::format("the folder '{}' has no images", f_.dir));
  }

  std::string name() const override { return "folder"; }
  int64_t image_channels() const override { return f_.prepare.channels; }
  int64_t image_size() const override { return f_.prepare.size; }

  TrainingBatch next_batch(Generator& gen, int64_t batch) const override {
    TD_CHECK(batch > 0, "FolderData::next_batch", fmt::format("batch must be positive, got {}", batch));
    // Draw order (fixed, for exact replay): indices, then flips.
    const Tensor index = gen.randint(0, f_.count(), {batch});  // (B) int64
    TrainingBatch out;
    out.images = f_.images(index);  // (B, C, S, S)
    const int64_t* idx = index.data<int64_t>();
    for (int64_t i = 0; i < batch; ++i) out.captions.push_back(f_.captions[static_cast<size_t>(idx[i])]);
    if (hflip_) out.images = flip_horizontal_where(out.images, gen.bernoulli({batch}, 0.5));
    return out;
  }

  std::vector<std::string> vocabulary_captions() const override { return f_.captions; }

  int64_t example_count() const override { return f_.count(); }

  TrainingBatch examples(int64_t begin, int64_t count) const override {
    TD_CHECK(begin >= 0 && count >= 0 && begin + count <= f_.count(), "FolderData::examples",
             fmt::format("examples [{}, {}) are outside the folder's {} images", begin, begin + count, f_.count()));
    std::vector<int64_t> rows(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) rows[static_cast<size_t>(i)] = begin + i;
    TrainingBatch out;
    out.images = f_.images(Tensor::from_indices(rows, {count}));  // (count, C, S, S), never flipped
    out.captions.assign(f_.captions.begin() + begin, f_.captions.begin() + begin + count);
    return out;
  }

  std::vector<std::string> preview_prompts() const override {
    const std::set<std::string> distinct(f_.captions.begin(), f_.captions.end());
    std::vector<std::string> all;
    for (const std::string& c : distinct)
      if (!c.empty()) all.push_back(c);
    if (all.empty()) return {""};  // an unconditional set: previews of the empty prompt
    constexpr size_t kMax = 8;
    if (all.size() <= kMax) return all;
    std::vector<std::string> out;
    for (size_t i = 0; i < kMax; ++i) out.push_back(all[i * all.size() / kMax]);
    return out;
  }

  std::vector<std::string> describe() const override {
    const PrepareOptions& p = f_.prepare;
    const int64_t n = f_.count(), s = p.size, c = p.channels;
    std::vector<std::string> out;
    const std::string threads = num_threads() == 1 ? "1 thread" : fmt::format("{} threads", num_threads());
    std::string data = fmt::format("data: folder '{}' ({}): {} images", f_.dir, f_.convention, n);
    if (f_.uncaptioned > 0)
      data += fmt::format(", {} without a caption (trained as the empty prompt: unconditional)", f_.uncaptioned);
    out.push_back(data);
    if (!f_.problems.empty())
      out.push_back(fmt::format("warning: skipped {} bad entr{} (--skip-bad); the first: {}", f_.problems.size(),
                                f_.problems.size() == 1 ? "y" : "ies", f_.problems.front()));
    out.push_back(fmt::format(
        "preparation: {}, then {}x{} {}; alpha over {}; {}; area averaging when shrinking (stb_image_resize box "
        "filter), bilinear when enlarging; horizontal flips {}",
        p.resize == ResizeMode::Crop ? "centre crop to a square"
                                     : fmt::format("padded to a square with {}", background_name(p.background)),
        s, s, c == 1 ? "grey" : "RGB", background_name(p.background),
        c == 1 ? "RGB to grey as Rec. 601 luma 0.299 R + 0.587 G + 0.114 B" : "grey replicated to RGB",
        hflip_ ? "on (--hflip)" : "off"));
    out.push_back(fmt::format("in memory: N*S*S*C = {}*{}*{}*{} = {:.2f} MB of bytes; {} in {:.2f} s", n, s, s, c,
                              static_cast<double>(f_.pixels.size()) / 1e6,
                              f_.from_cache ? fmt::format("read from the cache {}", f_.cache_file)
                              : f_.cache_file.empty()
                                  ? fmt::format("decoded on {} (not cached)", threads)
                                  : fmt::format("decoded on {}, cached in {}", threads, f_.cache_file),
                              f_.seconds));
    return out;
  }

  std::string metadata_json() const override {
    std::error_code ec;
    const nlohmann::json j = {
        {"folder", std::filesystem::absolute(f_.dir, ec).lexically_normal().string()},
        {"convention", f_.convention},
        {"images", f_.count()},
        {"uncaptioned", f_.uncaptioned},
        {"skipped", f_.problems.size()},
        {"size", f_.prepare.size},
        {"channels", f_.prepare.channels},
        {"resize", resize_mode_name(f_.prepare.resize)},
        {"background", background_name(f_.prepare.background)},
        {"hflip", hflip_},
    };
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

 private:
  ImageFolder f_;
  bool hflip_;
};

}  // namespace

std::unique_ptr<TrainingData> make_image_folder_data(ImageFolder folder, bool hflip) {
  return std::make_unique<FolderData>(std::move(folder), hflip);
}

}  // namespace tinydiff
