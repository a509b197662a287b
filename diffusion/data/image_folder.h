/// \file
/// \brief A user's folder of captioned images, read once into memory as prepared bytes: the diffusers
/// ImageFolder convention (`metadata.jsonl`) or a caption file beside each image, with a cache.
///
/// **Two conventions**, chosen by the folder itself:
///
/// - **metadata.jsonl** (diffusers / Hugging Face ImageFolder): `DIR/metadata.jsonl` holds one JSON
///   object a line with `"file_name"` (a path relative to DIR, so images may sit in sub-folders)
///   and `"text"` (the caption, a string; `""` is allowed and trains the unconditional model).
///   Blank lines are skipped; images the file does not list are not used. A line listed twice is
///   two examples.
///
///       {"file_name": "cats/tabby.png", "text": "a tabby cat on a sofa"}
///
/// - **caption files** (kohya, many training tools), used when there is no metadata.jsonl: every
///   image under DIR (sub-folders included; names starting with "." skipped) with a known
///   extension (.png .jpg .jpeg .bmp .gif .tga .pnm .ppm .pgm .psd, any case), in path order. The
///   caption of `cat.png` is `cat.txt` beside it, its lines joined by spaces and trimmed. **An image
///   without a caption file gets the empty caption**: it trains the unconditional model (as
///   caption dropout does), and the count is reported, so a missing caption is visible and not
///   an error.
///
/// **Preparation** (image_prepare.h): composite alpha over the background, convert the channels,
/// crop or pad to a square, resize to S x S (area averaging when shrinking), round to bytes. The
/// channel count is `PrepareOptions::channels`, or with `channels = 0` taken from the data: 1
/// when every image is grey (with or without alpha, read from the headers), else 3.
///
/// **Memory.** The set is kept as N·C·S·S bytes (the images as (N, C, S, S) planes). Before
/// decoding, that number is compared with half of the memory available (`/proc/meminfo`
/// MemAvailable), and a folder too large is an error that gives both numbers.
///
/// **Decoding** runs once, in parallel over the files (`parallel_for`, each file written by one
/// thread into its own slot, so the result does not depend on the thread count), in blocks of 64
/// files with a progress bar on stderr between blocks when stderr is a terminal.
///
/// **Cache.** The prepared set is saved as `<cache_dir>/<key>.bin`, where the key is a 128-bit
/// hash of the folder's absolute path, every file used (path, size and modification time,
/// metadata.jsonl and the caption files included, and which listed files are absent) and every
/// preparation option (size, channels, resize, background, skip-bad). The next load with the same
/// key reads the bytes back instead of decoding; touching, adding or removing any file, or
/// changing any option, changes the key. The file is written to a temporary name and renamed, so
/// a crash leaves no half-written cache; a cache that cannot be written or read is ignored with a
/// warning. Deleting the folder is always safe.
///
/// **Bad input** throws Error("image_folder") with one line naming the file (and the line of
/// metadata.jsonl): a folder that does not exist, no images, a metadata.jsonl line that is not a
/// JSON object or lacks `file_name` or `text` (or has a non-string one), a listed file that is
/// absent, a file that cannot be decoded, a folder too large for memory. With `skip_bad` the
/// per-entry problems (bad lines, absent or undecodable files) skip that entry instead, and are
/// listed in `ImageFolder::problems` for one warning with the count.
///
/// Usage:
/// \code
///   ImageFolderOptions o;
///   o.dir = "emoji";
///   o.prepare = {.size = 32, .channels = 3, .resize = ResizeMode::Pad, .background = Background::White};
///   o.cache_dir = cache_folder() + "/datasets";
///   ImageFolder f = load_image_folder(o);   // f.pixels: N * 3 * 32 * 32 bytes; f.captions: N captions
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/data/image_prepare.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// Options of load_image_folder.
struct ImageFolderOptions {
  std::string dir{};              ///< the folder
  PrepareOptions prepare{};       ///< size, channels (0: from the data), resize, background
  bool skip_bad = false;          ///< skip bad entries with a warning instead of failing
  std::string cache_dir{};        ///< where prepared sets are cached ("": no cache)
  uint64_t available_memory = 0;  ///< bytes of memory to fit in (0: MemAvailable of /proc/meminfo)
  bool progress = true;           ///< a progress bar on stderr while decoding, when stderr is a terminal
};

/// A folder read by load_image_folder: the prepared images and their captions.
struct ImageFolder {
  std::string dir;                    ///< the folder as given
  std::string convention;             ///< "metadata.jsonl" or "caption files"
  PrepareOptions prepare;             ///< the options used (channels resolved)
  std::vector<std::string> files;     ///< each example's file, relative to dir
  std::vector<std::string> captions;  ///< each example's caption ("" = unconditional)
  std::vector<uint8_t> pixels;        ///< (N, C, S, S) bytes
  std::vector<std::string> problems;  ///< entries skipped with skip_bad, one line each
  int64_t uncaptioned = 0;            ///< examples with the empty caption
  bool from_cache = false;            ///< read from the cache instead of decoded
  std::string cache_file;             ///< the cache file read or written ("" without a cache)
  double seconds = 0.0;               ///< time load_image_folder took

  /// N, the number of examples.
  int64_t count() const { return static_cast<int64_t>(captions.size()); }
  /// Examples `index` (B) int64 as float32 images (B, C, S, S) in [-1, 1] (byte b becomes b / 127.5 - 1).
  Tensor images(const Tensor& index) const;
};

/// Reads, checks and prepares the folder (or its cache). See the file comment for the rules and errors.
ImageFolder load_image_folder(const ImageFolderOptions& options);

/// MemAvailable of /proc/meminfo in bytes, or 0 when it cannot be read.
uint64_t available_memory_bytes();

/// The cache file of these options for the folder's current files (`<cache_dir>/<key>.bin`), for
/// tests and for `tinydiff info`; throws like load_image_folder for a missing folder or bad metadata.
std::string image_folder_cache_file(const ImageFolderOptions& options);

}  // namespace tinydiff
