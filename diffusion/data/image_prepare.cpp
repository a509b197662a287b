// Decoding and preparing training images. See image_prepare.h.
// (Debian's libstb links the stb implementations as a library: no STB_*_IMPLEMENTATION here.)
#include "diffusion/data/image_prepare.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "tensor/error.h"

namespace tinydiff {

std::string resize_mode_name(ResizeMode mode) { return mode == ResizeMode::Crop ? "crop" : "pad"; }

ResizeMode parse_resize_mode(const std::string& name) {
  if (name == "crop") return ResizeMode::Crop;
  if (name == "pad") return ResizeMode::Pad;
  throw Error("parse_resize_mode", fmt::format("unknown resize mode '{}'; choose one of: crop, pad", name));
}

std::string background_name(Background background) { return background == Background::White ? "white" : "black"; }

Background parse_background(const std::string& name) {
  if (name == "white") return Background::White;
  if (name == "black") return Background::Black;
  throw Error("parse_background", fmt::format("unknown background '{}'; choose one of: white, black", name));
}

DecodedImage decode_image(const std::string& bytes, const std::string& what) {
  const char* op = "decode_image";
  TD_CHECK(!bytes.empty(), op, fmt::format("{}: cannot decode: the file is empty", what));
  TD_CHECK(bytes.size() < (size_t{1} << 31), op,
           fmt::format("{}: cannot decode: {} bytes is too large", what, bytes.size()));
  const auto* buf = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  TD_CHECK(stbi_info_from_memory(buf, len, &w, &h, &c) != 0, op,
           fmt::format("{}: cannot decode: {} (stb_image reads PNG, JPEG, BMP, GIF, TGA, PNM, PSD)", what,
                       stbi_failure_reason()));
  TD_CHECK(w >= 1 && h >= 1 && w <= kMaxImageSide && h <= kMaxImageSide, op,
           fmt::format("{}: the image is {}x{} pixels; expected 1..{} on each side", what, w, h, kMaxImageSide));
  int w2 = 0, h2 = 0, c2 = 0;
  const std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(buf, len, &w2, &h2, &c2, 0),
                                                         stbi_image_free);
  TD_CHECK(pixels != nullptr, op, fmt::format("{}: cannot decode: {}", what, stbi_failure_reason()));
  TD_CHECK(c2 >= 1 && c2 <= 4, op, fmt::format("{}: cannot decode: {} channels", what, c2));
  DecodedImage out;
  out.width = w2;
  out.height = h2;
  out.channels = c2;
  out.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(w2) * static_cast<size_t>(h2) * c2);
  return out;
}

int64_t image_file_channels(const std::string& path) {
  int w = 0, h = 0, c = 0;
  return stbi_info(path.c_str(), &w, &h, &c) != 0 ? c : 0;
}

std::vector<double> square_image(const DecodedImage& image, const PrepareOptions& o, int64_t& side) {
  const char* op = "prepare_image";
  TD_CHECK(o.size >= 1 && (o.channels == 1 || o.channels == 3), op,
           fmt::format("size must be at least 1 and channels 1 or 3, got size {} and channels {}", o.size, o.channels));
  const int64_t w = image.width, h = image.height, ci = image.channels, co = o.channels;
  TD_CHECK(w >= 1 && h >= 1 && ci >= 1 && ci <= 4 && image.pixels.size() == static_cast<size_t>(w * h * ci), op,
           fmt::format("expected a decoded image of {}x{} pixels with 1 to 4 channels, got {} channels and {} bytes", w,
                       h, ci, image.pixels.size()));
  const double bg = o.background == Background::White ? 1.0 : 0.0;
  const bool alpha = ci == 2 || ci == 4;
  const int64_t colours = alpha ? ci - 1 : ci;  // 1 grey or 3 RGB
  side = o.resize == ResizeMode::Crop ? std::min(w, h) : std::max(w, h);
  const int64_t x0 = (w - side) / 2, y0 = (h - side) / 2;  // crop: >= 0; pad: <= 0 (where the image starts)
  // The square (side, side, C), background where the image does not reach (pad).
  std::vector<double> out(static_cast<size_t>(side * side * co), bg);
  for (int64_t y = 0; y < side; ++y) {
    const int64_t sy = y + y0;
    if (sy < 0 || sy >= h) continue;
    for (int64_t x = 0; x < side; ++x) {
      const int64_t sx = x + x0;
      if (sx < 0 || sx >= w) continue;
      const uint8_t* p = image.pixels.data() + (sy * w + sx) * ci;
      double v[3];
      const double a = alpha ? p[ci - 1] / 255.0 : 1.0;
      for (int64_t k = 0; k < colours; ++k) v[k] = a * (p[k] / 255.0) + (1.0 - a) * bg;  // over the background
      double* q = out.data() + (y * side + x) * co;
      if (co == colours) {
        for (int64_t k = 0; k < co; ++k) q[k] = v[k];
      } else if (co == 3) {  // grey -> RGB
        q[0] = q[1] = q[2] = v[0];
      } else {  // RGB -> grey: Rec. 601 luma
        q[0] = 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
      }
    }
  }
  return out;
}

std::vector<float> resize_square(const std::vector<float>& image, int64_t side, int64_t size, int64_t channels) {
  const char* op = "resize_square";
  TD_CHECK(side >= 1 && size >= 1 && channels >= 1 && image.size() == static_cast<size_t>(side * side * channels), op,
           fmt::format("expected an image ({}, {}, {}) of {} values, got {}", side, side, channels,
                       side * side * channels, image.size()));
  if (side == size) return image;
  std::vector<float> out(static_cast<size_t>(size * size * channels));
  const stbir_filter filter = size < side ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
  const int s = static_cast<int>(side), t = static_cast<int>(size), c = static_cast<int>(channels);
  const int ok = stbir_resize_float_generic(image.data(), s, s, 0, out.data(), t, t, 0, c, STBIR_ALPHA_CHANNEL_NONE, 0,
                                            STBIR_EDGE_CLAMP, filter, STBIR_COLORSPACE_LINEAR, nullptr);
  TD_CHECK(ok != 0, op, fmt::format("stb_image_resize failed resizing {}x{} to {}x{}", side, side, size, size));
  return out;
}

std::vector<double> resize_square_area_naive(const std::vector<double>& image, int64_t side, int64_t size,
                                             int64_t channels) {
  TD_CHECK(size >= 1 && size <= side && image.size() == static_cast<size_t>(side * side * channels),
           "resize_square_area_naive",
           fmt::format("expected size {} <= side {} and {} values, got {}", size, side, side * side * channels,
                       image.size()));
  const double r = static_cast<double>(side) / static_cast<double>(size);  // input pixels per output pixel
  // weight[j][i]: the length of input pixel i's overlap with output pixel j's interval [j r, (j+1) r).
  std::vector<std::vector<double>> weight(static_cast<size_t>(size), std::vector<double>(static_cast<size_t>(side)));
  for (int64_t j = 0; j < size; ++j)
    for (int64_t i = 0; i < side; ++i)
      weight[j][i] = std::max(0.0, std::min<double>(i + 1, (j + 1) * r) - std::max<double>(i, j * r));
  std::vector<double> out(static_cast<size_t>(size * size * channels), 0.0);
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x)
      for (int64_t k = 0; k < channels; ++k) {
        double sum = 0.0;
        for (int64_t sy = 0; sy < side; ++sy)
          for (int64_t sx = 0; sx < side; ++sx)
            sum += weight[y][sy] * weight[x][sx] * image[(sy * side + sx) * channels + k];
        out[(y * size + x) * channels + k] = sum / (r * r);
      }
  return out;
}

std::vector<uint8_t> prepare_image(const DecodedImage& image, const PrepareOptions& o) {
  int64_t side = 0;
  const std::vector<double> square = square_image(image, o, side);  // (side, side, C) in [0, 1]
  const int64_t c = o.channels, s = o.size;
  std::vector<uint8_t> out(static_cast<size_t>(c * s * s));
  const auto to_byte = [](double v) { return static_cast<uint8_t>(std::clamp(std::round(255.0 * v), 0.0, 255.0)); };
  if (side == s) {  // exact: one rounding of the float64 values
    for (int64_t k = 0; k < c; ++k)
      for (int64_t p = 0; p < s * s; ++p) out[k * s * s + p] = to_byte(square[p * c + k]);
    return out;
  }
  const std::vector<float> small = resize_square(std::vector<float>(square.begin(), square.end()), side, s, c);
  // (S, S, C) interleaved -> (C, S, S) planes
  for (int64_t k = 0; k < c; ++k)
    for (int64_t p = 0; p < s * s; ++p) out[k * s * s + p] = to_byte(small[p * c + k]);
  return out;
}

}  // namespace tinydiff
