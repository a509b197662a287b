// The version and git commit of this build (tensor/version.h).
#include "tensor/version.h"

#include "tinydiff_git_commit.h"  // build/generated: TINYDIFF_GIT_COMMIT

namespace tinydiff {

std::string tinydiff_version() { return TINYDIFF_VERSION; }

std::string tinydiff_git_commit() { return TINYDIFF_GIT_COMMIT; }

std::string version_string() {
  const std::string commit = tinydiff_git_commit();
  return commit.empty() ? tinydiff_version() : tinydiff_version() + " (git " + commit + ")";
}

}  // namespace tinydiff
