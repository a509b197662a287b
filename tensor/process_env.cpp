// Start-up: OpenMP wait policy and OpenBLAS kernels (tensor/process_env.h).
#include "tensor/process_env.h"

#include <unistd.h>

#include <cstdlib>

namespace tinydiff {

void prepare_process(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace tinydiff
