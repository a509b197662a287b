# Run at every build (tensor/CMakeLists.txt, target tinydiff_git_commit): writes OUT, a header defining
# TINYDIFF_GIT_COMMIT as the commit of the source tree SRC ("" when SRC is not a git clone or git is
# missing; "-dirty" appended when the tree has uncommitted changes). The file is rewritten only when
# the commit changed, so an unchanged tree recompiles nothing.
execute_process(COMMAND git -C "${SRC}" describe --always --dirty --abbrev=12
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  set(commit "")
endif()
set(content "// Written by cmake/git_commit.cmake at build time.\n#define TINYDIFF_GIT_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()
