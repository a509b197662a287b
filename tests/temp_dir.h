/// \file
/// \brief Test helper: a folder of its own under the system temp folder, removed at the end of the test.
///
/// The name holds the process id: CTest runs test cases as separate processes, several at once.
///
/// Usage:
/// \code
///   tinydiff::test::TempDir dir("evalimg", "folder");   // /tmp/tinydiff_evalimg_folder_<pid>
///   save_png((dir.path / "000000.png").string(), image);
/// \endcode
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace tinydiff::test {

/// An empty folder `<temp>/tinydiff_<prefix>_<name>_<pid>`, created on construction and removed
/// (with its contents) on destruction.
struct TempDir {
  std::filesystem::path path;  ///< the folder
  /// Creates the folder (emptied first if a crashed run left it behind).
  TempDir(const std::string& prefix, const std::string& name)
      : path(std::filesystem::temp_directory_path() / fmt::format("tinydiff_{}_{}_{}", prefix, name, ::getpid())) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace tinydiff::test
