/// \file
/// \brief Images and files: tensors to 8-bit PNG files (stb_image_write) and back (stb_image), and sample grids.
///
/// Models work on pixels in \f$[-1, 1]\f$; a PNG stores bytes. `to_bytes` maps a value v in
/// [lo, hi] to \f$\mathrm{round}(255\,(v - lo)/(hi - lo))\f$, clamped to 0..255. `load_png`
/// inverts it for [-1, 1]: a byte b becomes \f$v = b/255 \cdot 2 - 1\f$ (computed in float32 as
/// b / 127.5 - 1, the formula of the Fashion-MNIST loader), so `save_png` then `load_png`
/// returns byte-quantised values exactly.
///
/// Usage:
/// \code
///   Tensor samples = ...;                          // (N, C, H, W) in [-1, 1]
///   save_png("out/grid.png", make_grid(samples, 8));
///   save_png("out/000.png", samples.slice(0, 0, 1).squeeze(0));
///   Tensor back = load_png("out/000.png");         // (C, H, W) in [-1, 1]
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

/// Bytes of an image (C, H, W), C = 1 or 3, in row-major interleaved order (H, W, C), as PNG wants them.
std::vector<uint8_t> to_bytes(const Tensor& image, double lo = -1.0, double hi = 1.0);

/// Encodes an image (C, H, W), C = 1 (grayscale) or 3 (RGB), with values in [lo, hi] as PNG bytes.
std::string encode_png(const Tensor& image, double lo = -1.0, double hi = 1.0);

/// Writes an image (C, H, W) as an 8-bit PNG. The file appears complete or not at all
/// (written to a temporary file, then renamed). Throws Error naming the path when it cannot be written.
void save_png(const std::string& path, const Tensor& image, double lo = -1.0, double hi = 1.0);

/// Largest width and height `load_png` accepts (checked before the pixels are decoded).
inline constexpr int64_t kMaxPngSide = 4096;

/// Reads an 8-bit grayscale or RGB PNG file as a float32 image (C, H, W) in [-1, 1], C = 1 or 3
/// (pixel byte b becomes b / 127.5 - 1). Palette images come back as RGB. Throws Error("load_png")
/// naming the path and the reason for a missing or unreadable file, a file that is not a PNG,
/// a PNG with an alpha channel (grey + alpha or RGBA: rejected, not dropped, since what the
/// alpha means is unknown), a 16-bit PNG, a side over kMaxPngSide, or a decoding failure
/// (stb_image's reason).
Tensor load_png(const std::string& path);

/// Tiles images (N, C, H, W) into one image (C, rows (H + pad) + pad, cols (W + pad) + pad),
/// `columns` per row, separated by `padding` pixels of `pad_value`.
Tensor make_grid(const Tensor& images, int64_t columns, int64_t padding = 2, double pad_value = -1.0);

/// Scales an image up by an integer factor (nearest neighbour), so small images are visible.
Tensor enlarge(const Tensor& image, int64_t factor);

}  // namespace tinydiff
