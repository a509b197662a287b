// Scoring a folder of PNG images made by another program with the evaluation's own prompts,
// judge and references. See evaluate.h ("Image folders").
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "diffusion/data/image_io.h"
#include "diffusion/evaluation/evaluate.h"
#include "tensor/tensor.h"

namespace tinydiff {

namespace {

namespace fs = std::filesystem;

constexpr const char* kOp = "evaluate_images";

// The command that prints the right prompts.txt for these options.
std::string print_prompts_command(const std::string& dataset, const EvalOptions& o) {
  return fmt::format("tinydiff eval --dataset {} --samples {} --seed {} --print-prompts > prompts.txt", dataset,
                     o.samples, o.seed);
}

// The lines of `path` without their line ends ("\n" or "\r\n"); a last line without "\n" counts.
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TD_CHECK(in.good(), kOp, fmt::format("cannot read '{}'", path));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  TD_CHECK(!in.bad(), kOp, fmt::format("reading '{}' failed", path));
  return lines;
}

// Checks `dir/prompts.txt` against the evaluation's list: Error naming the first differing line.
void check_prompts(const std::string& dir, const std::string& dataset, const EvalOptions& o,
                   const std::vector<std::string>& expected) {
  const std::string path = (fs::path(dir) / "prompts.txt").string();
  std::error_code ec;
  TD_CHECK(fs::is_regular_file(path, ec), kOp,
           fmt::format("'{}' does not exist; write the list with `{}` in the folder", path,
                       print_prompts_command(dataset, o)));
  const std::vector<std::string> got = read_lines(path);
  const size_t n = std::min(got.size(), expected.size());
  const std::string fix = fmt::format("write the list with `{}`", print_prompts_command(dataset, o));
  for (size_t i = 0; i < n; ++i)
    TD_CHECK(got[i] == expected[i], kOp,
             fmt::format("{} line {} is '{}', but the evaluation's prompt {} is '{}' ({} --samples {} --seed {}); {}",
                         path, i + 1, got[i], i + 1, expected[i], dataset, o.samples, o.seed, fix));
  TD_CHECK(got.size() == expected.size(), kOp,
           fmt::format("{} has {} lines, but the evaluation ({} --samples {} --seed {}) has {} prompts (line {} "
                       "differs: '{}' vs '{}'); {}",
                       path, got.size(), dataset, o.samples, o.seed, expected.size(), n + 1,
                       n < got.size() ? got[n] : "(end of file)",
                       n < expected.size() ? expected[n] : "(no more prompts)", fix));
}

// Loads images 0..n-1 of the folder, each checked to be (C, S, S); returns (n, C, S, S).
Tensor load_folder_images(const std::string& dir, int64_t n, int64_t channels, int64_t size,
                          const std::string& dataset) {
  std::vector<Tensor> images;
  images.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::string path = (fs::path(dir) / eval_image_name(i)).string();
    Tensor image = load_png(path);  // (C, H, W); Error("load_png", ...) naming the file
    TD_CHECK(image.shape() == (Shape{channels, size, size}), kOp,
             fmt::format("'{}' is {}, but {} images are ({}, {}, {}): {}x{} {} PNGs", path, shape_str(image.shape()),
                         dataset, channels, size, size, size, size, channels == 1 ? "8-bit grayscale" : "8-bit RGB"));
    images.push_back(std::move(image));
  }
  return stack(images, 0);  // (n, C, S, S)
}

}  // namespace

EvalReport evaluate_images(const std::string& dir, const std::string& dataset, const EvalOptions& options) {
  validate(options);
  TD_CHECK(has_evaluation(dataset), kOp,
           fmt::format("the data set '{}' has no evaluation; expected 'fashion' or 'shapes'", dataset));
  TD_CHECK(options.guidance.size() == 1, kOp,
           fmt::format("a folder holds images made at one guidance scale, got {} scales; give the one the images "
                       "were made with",
                       options.guidance.size()));
  std::error_code ec;
  TD_CHECK(fs::is_directory(dir, ec), kOp,
           fmt::format("'{}' is not a folder{}", dir, fs::exists(dir, ec) ? "" : " (it does not exist)"));
  const std::vector<std::string> prompts = eval_prompts(dataset, options);
  check_prompts(dir, dataset, options, prompts);

  const bool fashion = dataset == "fashion";
  const int64_t channels = fashion ? 1 : 3, size = fashion ? FashionClassifier::kImageSize : kShapesImageSize;
  const int64_t n = static_cast<int64_t>(prompts.size());
  if (options.log) options.log(fmt::format("reading {} images from {}", n, dir));
  const Tensor images = load_folder_images(dir, n, channels, size, dataset);  // (N, C, S, S)

  // Hands out the stored images in order. The prompts were checked above, so the sampler's
  // prompts are the folder's; the check below guards against a change of the scoring order.
  int64_t next = 0;
  const PromptSampler sampler = [&](const std::vector<std::string>& chunk, double, const Tensor& x_T, int64_t) {
    const int64_t b = static_cast<int64_t>(chunk.size());
    if (next + b > n) next = 0;
    for (int64_t i = 0; i < b; ++i)
      TD_CHECK(chunk[static_cast<size_t>(i)] == prompts[static_cast<size_t>(next + i)], kOp,
               fmt::format("internal: prompt {} was asked out of the folder's order", next + i));
    Tensor out = images.slice(0, next, next + b).contiguous();  // (b, C, S, S)
    TD_CHECK(out.shape() == x_T.shape(), kOp,
             fmt::format("internal: images {} for noise {}", shape_str(out.shape()), shape_str(x_T.shape())));
    next += b;
    return out;
  };
  EvalReport report;
  report.images_dir = dir;
  report.image_count = n;
  report.dataset = dataset;
  report.options = options;
  const std::string source = fmt::format("stored images of {}", dir);
  if (fashion)
    report.fashion = evaluate_fashion_standard(sampler, options, source);
  else
    report.shapes = evaluate_shapes(sampler, options, channels, size, source);
  return report;
}

}  // namespace tinydiff
