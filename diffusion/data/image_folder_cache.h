/// \file
/// \brief The cache of prepared image folders (image_folder.h): a key from the folder's files and the options,
/// and a file that holds the prepared bytes, written atomically.
///
/// The file: a first line `tinydiff-image-folder-cache 1`, a second line with a JSON object (the
/// convention, size, channels, resize, background, files, captions, skipped entries), then the
/// N·C·S·S pixel bytes to the end of the file. It is written to `<path>.tmp.<pid>` and renamed
/// over `<path>`, so readers see a whole file or none. A file whose header or length does not
/// match is not used.
///
/// Usage:
/// \code
///   const std::string path = cache_dir + "/" + hash_hex(key_text) + ".bin";
///   ImageFolder f;
///   if (!read_image_folder_cache(path, f)) { ...decode...; write_image_folder_cache(path, f); }
/// \endcode
#pragma once

#include <string>

#include "diffusion/data/image_folder.h"

namespace tinydiff {

/// A 128-bit hash of `text` as 32 hex digits (two 64-bit FNV-1a hashes with different offsets,
/// each finished with a splitmix64 mix). Not cryptographic: it tells cache entries apart.
std::string hash_hex(const std::string& text);

/// Reads a cache file into `out` (every field but dir, from_cache, cache_file and seconds, which keep
/// their values).
/// Returns false, leaving `out` unchanged, when the file is absent, damaged or of another
/// version; `warning` (when not null) then says why for a file that exists.
bool read_image_folder_cache(const std::string& path, ImageFolder& out, std::string* warning = nullptr);

/// Writes `folder` to the cache file `path` atomically, creating its folder. Throws Error naming
/// the path when it cannot be written; no temporary file is left behind.
void write_image_folder_cache(const std::string& path, const ImageFolder& folder);

}  // namespace tinydiff
