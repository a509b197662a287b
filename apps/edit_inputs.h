/// \file
/// \brief The files the editing options of `tinydiff sample` and `tinydiff invert` read — an init image, a mask,
/// a noise tensor — read and checked against the model, each problem a one-line `CliError` naming the file and
/// what was expected (exit code 2, a bad file).
///
/// Usage:
/// \code
///   const Tensor png = read_png_flag(a.init_image, "--init-image");            // before the checkpoint loads
///   check_image_fits(png, a.init_image, "--init-image", C, S);                 // (C, S, S) in [-1, 1]
///   const Tensor mask = binary_mask(read_png_flag(a.mask, "--mask"), a.mask, S); // (1, 1, S, S): 1 = generate
///   const Tensor x_T = read_init_noise(a.init_noise, count, C, S);             // (count, C, S, S)
/// \endcode
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace tinydiff::cli {

/// The PNG file given to `flag` as (C, H, W) in [-1, 1] (load_png). CliError(kExitBadFile) naming the file when it
/// is missing, unreadable or not an 8-bit grayscale or RGB PNG.
Tensor read_png_flag(const std::string& path, const std::string& flag);

/// Checks that `image` (C, H, W) read from `path` for `flag` is C x S x S with C = `channels`; CliError(kExitBadFile)
/// saying the size and channels found and expected otherwise.
void check_image_fits(const Tensor& image, const std::string& path, const std::string& flag, int64_t channels,
                      int64_t size);

/// The inpainting mask from the PNG `png` (1 or 3, H, W) read from `path`: (1, 1, S, S) with 1 where the PNG is white
/// (generate) and 0 where it is black (keep). CliError(kExitBadFile) when it is not S x S, or has a pixel that is
/// not pure black or pure white (naming the first one).
Tensor binary_mask(const Tensor& png, const std::string& path, int64_t size);

/// The noise \f$x_T\f$ in the safetensors file `path` (written by `tinydiff invert`: one tensor "x_T", (1, C, S, S)):
/// returns (count, C, S, S), the one stored image repeated, or the file's `count` images. CliError(kExitBadFile)
/// naming the file for an unreadable file, no tensor "x_T" (or no single tensor), another shape, or non-finite values.
Tensor read_init_noise(const std::string& path, int64_t count, int64_t channels, int64_t size);

}  // namespace tinydiff::cli
