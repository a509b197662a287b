/// \file
/// \brief Turning any image file into a model's training image: decode (stb_image), composite the alpha over a
/// background, convert the channels, crop or pad to a square and resize with area averaging (stb_image_resize).
///
/// A user's pictures come in every format, size and mode; the model wants S x S pixels with C = 1
/// or 3 channels. `prepare_image` does, in this order and in floating point with pixel values
/// \f$v \in [0, 1]\f$ (byte / 255):
///
/// 1. **Alpha.** An image with alpha (grey + alpha, RGBA) is composited over the background
///    colour \f$b\f$ (white: 1, black: 0): \f$v = a\,c + (1 - a)\,b\f$ with \f$a\f$ the alpha / 255.
/// 2. **Channels.** Grey into an RGB model: the grey value is copied to R, G and B. RGB into a
///    one-channel model: the Rec. 601 luma \f$Y' = 0.299\,R + 0.587\,G + 0.114\,B\f$ of the
///    encoded values (as PIL's `convert("L")` and JPEG do).
/// 3. **Square.** `crop`: the centred square of side \f$s = \min(w, h)\f$, starting at column
///    \f$\lfloor (w - s)/2 \rfloor\f$ and row \f$\lfloor (h - s)/2 \rfloor\f$ (an odd extra pixel is
///    dropped on the right or bottom). `pad`: a square of side \f$s = \max(w, h)\f$ filled with the
///    background, the image at column \f$\lfloor (s - w)/2 \rfloor\f$ and row
///    \f$\lfloor (s - h)/2 \rfloor\f$ (an odd extra pixel of padding goes right or bottom).
/// 4. **Resize** from side \f$s\f$ to \f$S\f$. Shrinking (\f$S < s\f$) averages areas: output
///    pixel \f$j\f$ covers input interval \f$[j\,s/S, (j+1)\,s/S)\f$ along each axis, and its value is the
///    mean of the input over that square, each input pixel weighted by the length of its overlap
///    (stb_image_resize's `STBIR_FILTER_BOX`, a trapezoid of 1-pixel ramps, which is exactly this
///    overlap weight). Stb's default for shrinking would be a Mitchell cubic, which sharpens and
///    rings; area averaging does neither. Enlarging (\f$S > s\f$) uses `STBIR_FILTER_TRIANGLE`
///    (bilinear interpolation, edges clamped), which does not overshoot. \f$S = s\f$ copies.
///    Values are treated as linear (no sRGB decoding), as PIL and torchvision do.
/// 5. **Bytes.** \f$\mathrm{round}(255\,v)\f$, clamped to 0..255, stored as (C, S, S) planes.
///
/// Without a resize (\f$s = S\f$) the result is exact: compositing, channel conversion and
/// padding are computed in float64 and rounded once.
///
/// Usage:
/// \code
///   DecodedImage img = decode_image(file_bytes, "cat.png");          // any format stb_image reads
///   PrepareOptions o{.size = 32, .channels = 3, .resize = ResizeMode::Pad, .background = Background::White};
///   std::vector<uint8_t> chw = prepare_image(img, o);                  // 3 * 32 * 32 bytes
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinydiff {

/// How a non-square image becomes square.
enum class ResizeMode {
  Crop,  ///< the centred square of side min(w, h)
  Pad,   ///< the image centred in a square of side max(w, h), filled with the background
};

/// The colour behind transparent pixels and around padded images.
enum class Background {
  White,  ///< 255
  Black,  ///< 0
};

/// "crop" or "pad".
std::string resize_mode_name(ResizeMode mode);
/// Parses "crop" or "pad"; throws Error listing both for anything else.
ResizeMode parse_resize_mode(const std::string& name);
/// "white" or "black".
std::string background_name(Background background);
/// Parses "white" or "black"; throws Error listing both for anything else.
Background parse_background(const std::string& name);

/// How prepare_image shapes an image.
struct PrepareOptions {
  int64_t size = 32;                          ///< S, the side of the prepared square image
  int64_t channels = 3;                       ///< C of the prepared image: 1 (grey) or 3 (RGB)
  ResizeMode resize = ResizeMode::Crop;       ///< how a non-square image becomes square
  Background background = Background::White;  ///< behind transparent pixels and around padded images
};

/// Largest width or height decode_image accepts (checked from the header before decoding).
inline constexpr int64_t kMaxImageSide = 16384;

/// A decoded image: 8-bit pixels, interleaved.
struct DecodedImage {
  int64_t width = 0;              ///< w
  int64_t height = 0;             ///< h
  int64_t channels = 0;           ///< 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
  std::vector<uint8_t> pixels{};  ///< (h, w, channels) bytes
};

/// Decodes an image file's bytes with stb_image (PNG, JPEG, BMP, GIF's first frame, TGA, PNM, PSD;
/// 16-bit PNGs are reduced to 8 bits). `what` names the file in errors: throws
/// Error("decode_image", "<what>: cannot decode: <stb_image's reason>") when it is not an image,
/// and names the size when a side is over kMaxImageSide.
DecodedImage decode_image(const std::string& bytes, const std::string& what);

/// The channel count decode_image would give (1 to 4) read from the header only, or 0 when the
/// header is not one stb_image reads.
int64_t image_file_channels(const std::string& path);

/// An image as prepared for training: (C, S, S) bytes, see the file comment. Throws Error for
/// options out of range (size < 1, channels other than 1 or 3) or an empty image.
std::vector<uint8_t> prepare_image(const DecodedImage& image, const PrepareOptions& options);

/// Steps 1-3 of prepare_image (alpha, channels, square), in float64: the square image
/// (side, side, C) interleaved, values in [0, 1]; `side` is set to its side.
std::vector<double> square_image(const DecodedImage& image, const PrepareOptions& options, int64_t& side);

/// Step 4 of prepare_image: resizes a square image (side, side, channels) interleaved to
/// (size, size, channels) with stb_image_resize (area averaging when shrinking, bilinear when
/// enlarging), in float32.
std::vector<float> resize_square(const std::vector<float>& image, int64_t side, int64_t size, int64_t channels);

/// The area-average reference of shrinking (float64, naive): output pixel (y, x) of `size` is the
/// overlap-weighted mean of the input over [y s/S, (y+1) s/S) x [x s/S, (x+1) s/S). Needs size <= side.
std::vector<double> resize_square_area_naive(const std::vector<double>& image, int64_t side, int64_t size,
                                             int64_t channels);

}  // namespace tinydiff
