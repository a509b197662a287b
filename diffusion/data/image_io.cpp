// PNG writing and reading, and image grids. See image_io.h.
// (Debian's libstb links the stb implementations as a library: no STB_*_IMPLEMENTATION here.)
#include "diffusion/data/image_io.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "nn/atomic_file.h"

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
  try {
    write_file_atomic(path, png);  // readers see the old file or the new one, never half of it (nn/atomic_file.h)
  } catch (const Error& e) {
    throw Error("save_png", fmt::format("cannot write '{}': {}", path, e.what()));
  }
}

Tensor load_png(const std::string& path) {
  const char* op = "load_png";
  namespace fs = std::filesystem;
  std::error_code ec;
  TD_CHECK(fs::exists(path, ec), op, fmt::format("cannot read '{}': no such file", path));
  TD_CHECK(!fs::is_directory(path, ec), op, fmt::format("cannot read '{}': it is a folder, not a PNG file", path));
  // A 4096 x 4096 RGB PNG stored without compression takes about 50 MB; refuse far larger files unread.
  constexpr uintmax_t kMaxBytes = uintmax_t{128} << 20;
  const uintmax_t bytes = fs::file_size(path, ec);
  TD_CHECK(!ec && bytes <= kMaxBytes, op,
           ec ? fmt::format("cannot read '{}': {}", path, ec.message())
              : fmt::format("'{}' has {} bytes, more than a {}x{} PNG needs", path, bytes, kMaxPngSide, kMaxPngSide));
  std::ifstream in(path, std::ios::binary);
  TD_CHECK(in.good(), op, fmt::format("cannot read '{}': cannot open it (permissions?)", path));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TD_CHECK(!in.bad(), op, fmt::format("cannot read '{}': reading failed", path));
  static constexpr char kSignature[] = "\x89PNG\r\n\x1a\n";  // the 8 bytes every PNG file starts with
  TD_CHECK(data.size() >= 8 && std::memcmp(data.data(), kSignature, 8) == 0, op,
           fmt::format("'{}' is not a PNG file ({} bytes without the PNG signature)", path, data.size()));
  const auto* buf = reinterpret_cast<const stbi_uc*>(data.data());
  const int len = static_cast<int>(data.size());
  int w = 0, h = 0, c = 0;
  TD_CHECK(stbi_info_from_memory(buf, len, &w, &h, &c) != 0, op,
           fmt::format("'{}' is not a readable PNG: {}", path, stbi_failure_reason()));
  TD_CHECK(w >= 1 && h >= 1 && w <= kMaxPngSide && h <= kMaxPngSide, op,
           fmt::format("'{}' is {}x{} pixels; expected 1..{} on each side", path, w, h, kMaxPngSide));
  TD_CHECK(
      c == 1 || c == 3, op,
      fmt::format("'{}' has {} channels ({}); expected an 8-bit grayscale (1) or RGB (3) PNG without alpha", path, c,
                  c == 2   ? "grey + alpha"
                  : c == 4 ? "RGBA"
                           : "unknown"));
  TD_CHECK(stbi_is_16_bit_from_memory(buf, len) == 0, op,
           fmt::format("'{}' is a 16-bit PNG; expected 8 bits per channel", path));
  int w2 = 0, h2 = 0, c2 = 0;
  const std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(buf, len, &w2, &h2, &c2, 0),
                                                         stbi_image_free);
  TD_CHECK(pixels != nullptr, op, fmt::format("cannot decode '{}': {}", path, stbi_failure_reason()));
  TD_CHECK(w2 == w && h2 == h && c2 == c, op,
           fmt::format("'{}': the decoded image ({}x{}, {} channels) differs from its header ({}x{}, {})", path, w2, h2,
                       c2, w, h, c));
  // (H, W, C) interleaved bytes -> (C, H, W) floats.
  const int64_t ch = c, hh = h, ww = w;
  Tensor image = Tensor::empty({ch, hh, ww});  // image: (C, H, W)
  float* out = image.data<float>();
  const stbi_uc* px = pixels.get();
  for (int64_t k = 0; k < ch; ++k)
    for (int64_t y = 0; y < hh; ++y)
      for (int64_t x = 0; x < ww; ++x)
        out[(k * hh + y) * ww + x] = static_cast<float>(px[(y * ww + x) * ch + k]) / 127.5f - 1.0f;
  return image;
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
