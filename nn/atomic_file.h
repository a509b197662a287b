/// \file
/// \brief `write_file_atomic`: replace a file so that readers see the old or the new version, never a torn one.
///
/// A checkpoint written in place and interrupted (a crash, a full disk, Ctrl-C) leaves a
/// truncated file and loses the previous checkpoint too. The standard POSIX recipe avoids that:
///
/// 1. create a uniquely named temporary file in the *same folder* as the target
///    (`rename` is atomic only within one file system);
/// 2. write all bytes, then `fsync` the file so its data is on disk;
/// 3. `rename` it over the target (atomic: the name points at the old or the new inode);
/// 4. `fsync` the folder so the rename itself survives a power loss.
///
/// On any failure the temporary file is removed and `tinydiff::Error` names the path and the
/// system's reason (e.g. "Permission denied"); the previous target file is left untouched.
///
/// Usage:
/// \code
///   write_file_atomic("runs/ckpt.safetensors", serialize_safetensors(tensors, metadata));
/// \endcode
#pragma once

#include <string>
#include <string_view>

namespace tinydiff {

/// Atomically replaces (or creates) `path` with `bytes`. The new file has mode 0644.
/// Throws Error("write_file_atomic", ...) when the folder cannot be written, the disk is
/// full, or `path` names a folder; no temporary file is left behind.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace tinydiff
