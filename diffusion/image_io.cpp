// PNG writing and image grids. See image_io.h.
#include "diffusion/image_io.h"

#include <fmt/format.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tinydiff {

namespace {
void check_image(const Tensor& image, const char* op) {
  check_floating(image, op);
  TD_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3), op,
           fmt::format("expected an image of shape (C, H, W) with C = 1 or 3, got {}", shape_str(image.shape())));
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::string*>(context);
  out->append(static_cast<const char*>(data), static_cast<size_t>(size));
}
}  // namespace

std::vector<uint8_t> to_bytes(const Tensor& image, double lo, double hi) {
  check_image(image, "to_bytes");
  TD_CHECK(hi > lo, "to_bytes", fmt::format("empty value range [{}, {}]", lo, hi));
  // (C, H, W) -> (H, W, C) interleaved, then quantise.
  const std::vector<double> v = image.permute({1, 2, 0}).to_vector();
  std::vector<uint8_t> bytes(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = std::round(255.0 * (v[i] - lo) / (hi - lo));
    bytes[i] = static_cast<uint8_t>(std::isnan(x) ? 0.0 : std::clamp(x, 0.0, 255.0));
  }
  return bytes;
}

std::string encode_png(const Tensor& image, double lo, double hi) {
  const std::vector<uint8_t> bytes = to_bytes(image, lo, hi);
  const int c = static_cast<int>(image.size(0)), h = static_cast<int>(image.size(1)),
            w = static_cast<int>(image.size(2));
  std::string png;
  const int ok = stbi_write_png_to_func(append_bytes, &png, w, h, c, bytes.data(), w * c);
  TD_CHECK(ok != 0, "encode_png",
           fmt::format("stb_image_write failed for an image of shape {}", shape_str(image.shape())));
  return png;
}

void save_png(const std::string& path, const Tensor& image, double lo, double hi) {
  const std::string png = encode_png(image, lo, hi);
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  TD_CHECK(f != nullptr, "save_png",
           fmt::format("cannot write '{}': check that the folder exists and is writable", path));
  const bool written = std::fwrite(png.data(), 1, png.size(), f) == png.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("save_png", fmt::format("writing '{}' failed (disk full or folder not writable?)", path));
  }
}

Tensor make_grid(const Tensor& images, int64_t columns, int64_t padding, double pad_value) {
  check_floating(images, "make_grid");
  TD_CHECK(images.dim() == 4, "make_grid",
           fmt::format("expected images of shape (N, C, H, W), got {}", shape_str(images.shape())));
  TD_CHECK(columns > 0 && padding >= 0, "make_grid",
           fmt::format("columns must be positive and padding non-negative, got {} and {}", columns, padding));
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t cols = std::min(columns, std::max<int64_t>(n, 1));
  const int64_t rows = (n + cols - 1) / cols;
  Tensor grid =
      Tensor::full({c, rows * (h + padding) + padding, cols * (w + padding) + padding}, pad_value, images.dtype());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, q = i % cols;
    const int64_t y0 = padding + r * (h + padding), x0 = padding + q * (w + padding);
    // grid[:, y0:y0+h, x0:x0+w] = images[i]
    Tensor cell = grid.slice(1, y0, y0 + h).slice(2, x0, x0 + w);
    cell.copy_(images.slice(0, i, i + 1).squeeze(0));
  }
  return grid;
}

Tensor enlarge(const Tensor& image, int64_t factor) {
  check_image(image, "enlarge");
  TD_CHECK(factor >= 1, "enlarge", fmt::format("factor must be at least 1, got {}", factor));
  // (C, H, W) -> (C, H, 1, W, 1) -> expand (C, H, f, W, f) -> (C, fH, fW)
  const int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  return image.reshape({c, h, 1, w, 1}).expand({c, h, factor, w, factor}).reshape({c, h * factor, w * factor});
}

}  // namespace tinydiff
