// Atomic file replacement: temp file, fsync, rename, fsync folder. See atomic_file.h.
#include "nn/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace tinydiff {
namespace {

constexpr const char* kOp = "write_file_atomic";

std::string errno_text(int err) { return std::strerror(err); }

// Writes all of `bytes` to `fd`, retrying short writes and EINTR. Returns 0 or an errno.
int write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  TD_CHECK(!path.empty(), kOp, "empty path");
  const std::filesystem::path target(path);
  TD_CHECK(target.has_filename(), kOp, fmt::format("'{}' does not name a file", path));
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");

  // 1. A unique temporary file next to the target: "<folder>/.<name>.tmp.XXXXXX".
  std::string temp_name = ".";  // (built with append: GCC 12 misreports "." + string as -Wrestrict)
  temp_name.append(target.filename().string()).append(".tmp.XXXXXX");
  std::string temp = (folder / temp_name).string();
  std::vector<char> templ(temp.begin(), temp.end());
  templ.push_back('\0');
  const int fd = ::mkstemp(templ.data());
  if (fd < 0) {
    const int err = errno;
    throw Error(kOp, fmt::format("cannot write '{}': cannot create a temporary file in folder '{}': {}", path,
                                 folder.string(), errno_text(err)));
  }
  temp.assign(templ.data());

  // On failure: close, remove the temporary file, report.
  auto fail = [&](const char* step, int err, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(temp.c_str());
    throw Error(kOp, fmt::format("cannot write '{}': {} failed: {}", path, step, errno_text(err)));
  };

  // 2. Write and flush to disk.
  if (::fchmod(fd, 0644) != 0) fail("fchmod", errno, true);
  if (const int err = write_all(fd, bytes); err != 0) fail("write", err, true);
  if (::fsync(fd) != 0) fail("fsync", errno, true);
  if (::close(fd) != 0) fail("close", errno, false);

  // A testing hook (tests/apps/test_reliability.cpp): TINYDIFF_TEST_PAUSE_BEFORE_RENAME_MS=N holds the finished
  // temporary file N milliseconds before the rename, so that a test can kill the process inside a write for certain.
  if (const char* pause = std::getenv("TINYDIFF_TEST_PAUSE_BEFORE_RENAME_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::strtol(pause, nullptr, 10)));

  // 3. Atomically put it in place.
  if (::rename(temp.c_str(), path.c_str()) != 0) fail("rename", errno, false);

  // 4. Make the rename durable. Some file systems refuse fsync on folders (EINVAL); the file
  // is already in place then, so only real I/O errors are reported.
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    const int rc = ::fsync(dir_fd);
    const int err = errno;
    ::close(dir_fd);
    TD_CHECK(rc == 0 || err == EINVAL || err == EROFS, kOp,
             fmt::format("wrote '{}' but fsync of folder '{}' failed: {}", path, folder.string(), errno_text(err)));
  }
}

}  // namespace tinydiff
