/// \file
/// \brief Helpers shared by the fuzz targets: an in-memory file with a path, and a failure report.
///
/// The file readers (load_safetensors, load_checkpoint) take a path. A memfd (an anonymous
/// in-memory file, Linux) reached through "/proc/self/fd/N" gives every input a path without
/// touching the disk, so the real streaming reader is fuzzed, not only parse_safetensors.
///
/// Usage:
/// \code
///   static tinydiff::fuzz::MemFile file;
///   file.write(data, size);
///   tinydiff::load_safetensors(file.path());
/// \endcode
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tinydiff::fuzz {

/// Prints "fuzz: invariant violated: <what>" and aborts, which libFuzzer reports as a crash.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz: invariant violated: %s\n", what.c_str());
  std::abort();
}

/// An anonymous in-memory file reachable by path.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("tinydiff_fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) fail("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  /// Replaces the contents with `data[0, size)`.
  void write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) fail("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) fail("pwrite failed");
      done += static_cast<size_t>(n);
    }
  }
  /// "/proc/self/fd/N".
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace tinydiff::fuzz
