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
endif()
if(TINYDIFF_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
