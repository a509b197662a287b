/// \file
/// \brief Which tinydiff this is: the version of the release and, when built from a git clone, the commit.
///
/// `tinydiff --version` prints it, and every checkpoint records it (metadata key "tinydiff.version",
/// diffusion/models/checkpoint_schema.h), so a file says which code wrote it. The commit is read at
/// every build (cmake/git_commit.cmake); it ends in "-dirty" when the tree had uncommitted changes.
///
/// Usage:
/// \code
///   fmt::print("{}\n", version_string());   // "0.1.0 (git 81dfc3e4a1b2)" or "0.1.0"
/// \endcode
#pragma once

#include <string>

namespace tinydiff {

/// The release version, "MAJOR.MINOR.PATCH" (CMakeLists.txt's project version).
std::string tinydiff_version();

/// The git commit the build was made from (12 hex digits, maybe "-dirty"), or "" outside a git clone.
std::string tinydiff_git_commit();

/// "VERSION (git COMMIT)", or just "VERSION" without a commit.
std::string version_string();

}  // namespace tinydiff
