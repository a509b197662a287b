# Compiler flags shared by every tinydiff target. Never -ffast-math / -Ofast: the
# gradient checks and golden comparisons rely on IEEE semantics.
function(tinydiff_set_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(TINYDIFF_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_BUILD_TYPE STREQUAL "Release")
    target_compile_options(${target} PRIVATE -O3)
  endif()
endfunction()

if(TINYDIFF_NATIVE)
  add_compile_options(-march=native)
  # GCC 12.2 (Debian 12) miscompiles some 256-bit constants when AVX-512 is enabled:
  # std::vector<double>{1, 1, 0, 0} comes out as {1, 1, 1, 1} at -O2 (reproduced here; see
  # tests/tensor/test_compiler_sanity.cpp). Our own kernels therefore stop at AVX2 with GCC
  # before 13; OpenBLAS still picks its AVX-512 kernels at run time.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    add_compile_options(-mno-avx512f)
  endif()
endif()
if(TINYDIFF_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
