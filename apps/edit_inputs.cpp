// The init image, mask and init noise files of `tinydiff sample` and `tinydiff invert`. See edit_inputs.h.
#include "apps/edit_inputs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <vector>

#include "apps/cli_errors.h"
#include "diffusion/data/image_io.h"
#include "nn/safetensors.h"
#include "tensor/elementwise.h"

namespace tinydiff::cli {

Tensor read_png_flag(const std::string& path, const std::string& flag) {
  try {
    return load_png(path);  // (C, H, W) in [-1, 1]
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot read the {} file: {}", flag, e.what()),
                   fmt::format("give {} an 8-bit grayscale or RGB PNG file", flag));
  }
}

void check_image_fits(const Tensor& image, const std::string& path, const std::string& flag, int64_t channels,
                      int64_t size) {
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  if (C == channels && H == size && W == size) return;
  const auto kind = [](int64_t c) { return c == 1 ? "grayscale" : "RGB"; };
  throw CliError(kExitBadFile,
                 fmt::format("the {} file '{}' is a {}x{} {} PNG; the model expects a {}x{} {} PNG", flag, path, W, H,
                             kind(C), size, size, kind(channels)),
                 fmt::format("resize or convert it to {}x{} {} pixels", size, size, kind(channels)));
}

Tensor binary_mask(const Tensor& png, const std::string& path, int64_t size) {
  const int64_t C = png.size(0), H = png.size(1), W = png.size(2);
  if (H != size || W != size)
    throw CliError(
        kExitBadFile,
        fmt::format("the --mask file '{}' is {}x{} pixels; the model's images are {}x{}", path, W, H, size, size),
        fmt::format("draw the mask at {}x{}: white = generate, black = keep", size, size));
  const std::vector<double> v = png.to_vector();  // (C, H, W) in [-1, 1]: black -1, white 1
  std::vector<double> m(static_cast<size_t>(H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const double first = v[static_cast<size_t>(y * W + x)];
      bool ok = first == -1.0 || first == 1.0;
      for (int64_t c = 1; c < C; ++c) ok = ok && v[static_cast<size_t>((c * H + y) * W + x)] == first;
      if (!ok) {
        std::vector<int> bytes;
        for (int64_t c = 0; c < C; ++c)
          bytes.push_back(static_cast<int>(std::lround((v[static_cast<size_t>((c * H + y) * W + x)] + 1.0) * 127.5)));
        throw CliError(kExitBadFile,
                       fmt::format("the --mask file '{}' is not binary: pixel (x {}, y {}) is {}{}{}", path, x, y,
                                   C > 1 ? "(" : "", fmt::join(bytes, ", "), C > 1 ? ")" : ""),
                       "use only black (0: keep the init image) and white (255: generate); no grey, colour or "
                       "anti-aliased edges");
      }
      m[static_cast<size_t>(y * W + x)] = first > 0.0 ? 1.0 : 0.0;
    }
  return Tensor::from_vector(m, {1, 1, H, W});  // (1, 1, S, S): 1 = generate, 0 = keep
}

Tensor read_init_noise(const std::string& path, int64_t count, int64_t channels, int64_t size) {
  const std::string hint = "pass the noise.safetensors written by 'tinydiff invert' for this model";
  SafetensorsData data;
  try {
    data = load_safetensors(path);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot read the --init-noise file: {}", e.what()), hint);
  }
  Tensor x;
  if (data.contains("x_T")) {
    x = data.at("x_T");
  } else if (data.tensors.size() == 1) {
    x = data.tensors.front().second;
  } else {
    throw CliError(
        kExitBadFile,
        fmt::format("the --init-noise file '{}' holds {} tensors and none is called x_T", path, data.tensors.size()),
        hint);
  }
  const bool fits = x.dim() == 4 && (x.size(0) == 1 || x.size(0) == count) && x.size(1) == channels &&
                    x.size(2) == size && x.size(3) == size && x.dtype() != DType::I64;
  if (!fits)
    throw CliError(
        kExitBadFile,
        fmt::format("the --init-noise file '{}' holds x_T of shape {} {}; the model expects (1{}, {}, {}, {}) "
                    "floats",
                    path, shape_str(x.shape()), dtype_name(x.dtype()), count > 1 ? fmt::format(" or {}", count) : "",
                    channels, size, size),
        hint);
  if (x.dtype() != DType::F32) x = x.to(DType::F32);
  if (!all_finite(x))
    throw CliError(kExitBadFile, fmt::format("the --init-noise file '{}' holds non-finite values", path), hint);
  if (x.size(0) == count) return x;
  return concat(std::vector<Tensor>(static_cast<size_t>(count), x), 0);  // (count, C, S, S)
}

}  // namespace tinydiff::cli
