/// \file
/// \brief `OutputDir`: makes a subcommand's output folder, checks it can be written, and removes what it
/// created when the command fails, so a failed command leaves nothing behind.
///
/// Usage:
/// \code
///   OutputDir out(dir, "--out");   // throws CliError(kExitBadFile) when dir cannot be written
///   ... write files ...
///   out.keep();                    // success: keep the folder (else the destructor removes what it created)
/// \endcode
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "apps/cli_errors.h"
#include "nn/atomic_file.h"
#include "tensor/error.h"

namespace tinydiff::cli {

/// An output folder, created on demand and removed again unless keep() is called.
class OutputDir {
 public:
  /// Creates `dir` (with missing parents) and writes and removes a probe file in it. `flag`
  /// names the option in messages. Throws CliError(kExitBadFile) when that fails.
  OutputDir(const std::string& dir, const std::string& flag) : dir_(dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path path(dir);
    if (fs::exists(path, ec) && !fs::is_directory(path, ec))
      throw CliError(kExitBadFile, flag + " '" + dir + "' is a file, not a folder", "choose a folder for " + flag);
    // The top-most folder this call creates: removed again on failure.
    fs::path missing;
    for (fs::path p = fs::absolute(path, ec); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      missing = p;
      if (p == p.parent_path()) break;
    }
    fs::create_directories(path, ec);
    if (ec)
      throw CliError(kExitBadFile, "cannot create the folder '" + dir + "' (" + flag + "): " + ec.message(),
                     "choose a folder you can write to");
    created_ = missing;
    const std::string probe = (path / ".tinydiff-write-test").string();
    try {
      write_file_atomic(probe, "");
      fs::remove(probe, ec);
    } catch (const Error& e) {
      remove_created();
      throw CliError(kExitBadFile, "cannot write to the folder '" + dir + "' (" + flag + "): " + e.what(),
                     "choose a folder you can write to");
    }
  }
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  /// Removes the folders this object created unless keep() was called.
  ~OutputDir() {
    if (!kept_) remove_created();
  }
  /// The command succeeded: keep everything.
  void keep() { kept_ = true; }
  /// True when the folder did not exist before.
  bool created() const { return !created_.empty(); }

 private:
  void remove_created() {
    std::error_code ec;
    if (!created_.empty()) std::filesystem::remove_all(created_, ec);
    created_.clear();
  }
  std::string dir_;
  std::filesystem::path created_;
  bool kept_ = false;
};

}  // namespace tinydiff::cli
