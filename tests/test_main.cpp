// The main of every test executable (tests/CMakeLists.txt): the process is prepared as every
// program of the project prepares it (tensor/process_env.h: OpenMP wait policy, OpenBLAS
// kernels; it may re-execute the executable once), then Catch2 runs the tests.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tensor/process_env.h"

int main(int argc, char** argv) {
  tinydiff::prepare_process(argv);
  return Catch::Session().run(argc, argv);
}
