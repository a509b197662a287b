/// \file
/// \brief Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from Debian's `dataset-fashion-mnist` package.
///
/// 70,000 grayscale 28x28 images of clothing in ten classes (60,000 train, 10,000 test),
/// stored as gzip-compressed IDX files under `/usr/share/datasets/fashion-mnist`. IDX is
/// big-endian: a magic number (0x00000803 for u8 images of rank 3, 0x00000801 for u8
/// labels), the extents, then the bytes.
///
/// For the diffusion models every image is scaled to \f$[-1, 1]\f$ (\f$x = 2p/255 - 1\f$) and,
/// by default, padded with 2 pixels of background (-1) on every side to 32x32, so the U-Net
/// can halve it twice.
///
/// Usage:
/// \code
///   FashionMnist train = load_fashion_mnist(FashionSplit::Train);
///   // train.images: (60000, 1, 32, 32) float32 in [-1, 1]; train.labels: (60000) int64
///   fmt::print("{}\n", fashion_class_name(train.labels.at({0})));
/// \endcode
#pragma once

#include <array>
#include <string>

#include "tensor/tensor.h"

namespace tinydiff {

/// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Which file pair to read.
enum class FashionSplit { Train, Test };

/// Images and labels of one split.
struct FashionMnist {
  Tensor images;  ///< (N, 1, S, S) float32 in [-1, 1]; S = 32 when padded, else 28
  Tensor labels;  ///< (N) int64 class indices 0..9
};

/// Reads a split. `limit` > 0 keeps the first `limit` examples; `pad_to_32` adds the 2-pixel border.
/// Throws Error naming the file when it is missing, truncated or not an IDX file of the expected kind.
FashionMnist load_fashion_mnist(FashionSplit split, const std::string& dir = kFashionMnistDir, int64_t limit = -1,
                                bool pad_to_32 = true);

/// The ten class names in label order: "T-shirt/top", "Trouser", ..., "Ankle boot".
const std::array<std::string, 10>& fashion_class_names();
/// Name of class `label` (0..9).
const std::string& fashion_class_name(int64_t label);

/// Reads a whole gzip file into memory (zlib). Throws Error naming the file on failure.
std::string read_gzip_file(const std::string& path);

}  // namespace tinydiff
