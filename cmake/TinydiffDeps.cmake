# Dependencies, all from Debian 12 packages (see scripts/setup).
find_package(PkgConfig REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(fmt REQUIRED)

# OpenBLAS, the OpenMP build. Debian's alternatives may point libblas/libopenblas at
# the pthread build when it is installed too (python3-torch pulls it in); that build's
# own thread pool fights our OpenMP threads. So we link the library file inside the
# openblas-openmp folder by its full path and set an RPATH to that folder; the tensor
# library checks openblas_get_parallel() at start-up.
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
if(NOT OPENBLAS_LIBRARY_DIRS MATCHES "openblas-openmp")
  message(FATAL_ERROR "pkg-config 'openblas' points at '${OPENBLAS_LIBRARY_DIRS}', not the "
                      "OpenMP build. Install it: apt-get install libopenblas-openmp-dev")
endif()
find_library(TINYDIFF_OPENBLAS_LIB NAMES openblas PATHS ${OPENBLAS_LIBRARY_DIRS} NO_DEFAULT_PATH REQUIRED)
add_library(tinydiff_openblas INTERFACE)
target_include_directories(tinydiff_openblas INTERFACE ${OPENBLAS_INCLUDE_DIRS})
target_link_libraries(tinydiff_openblas INTERFACE ${TINYDIFF_OPENBLAS_LIB})
target_link_options(tinydiff_openblas INTERFACE "LINKER:-rpath,${OPENBLAS_LIBRARY_DIRS}")
message(STATUS "tinydiff: OpenBLAS (OpenMP build) at ${TINYDIFF_OPENBLAS_LIB}")
