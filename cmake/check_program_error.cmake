# Runs a program that must fail, and checks how it fails (tensor/program.h): with exit code CODE
# and exactly one line on stderr that begins "PROGRAM: error:". An uncaught exception
# ("terminate called ..."), a crash, a second line or another code fails the check.
# cmake -DEXE=path/to/program -DPROGRAM=name -DCODE=1 "-DARGS=--threads;abc" -P check_program_error.cmake
foreach(var EXE PROGRAM CODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_program_error.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${EXE} ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
# Shown in CTest's output (ctest --output-on-failure) whatever the verdict.
message(STATUS "${PROGRAM} ${ARGS}: exit status '${status}'; stderr:\n${err}")
# Warning lines from the start-up ("PROGRAM: warning: OPENBLAS_CORETYPE=... keeps OpenBLAS on ...",
# tensor/process_env.h) depend on the machine's environment, not on the error: leave them out.
string(REGEX REPLACE "(^|\n)${PROGRAM}: warning: [^\n]*\n" "\\1" err "${err}")

set(problems "")
# A signal gives a text status ("Child aborted", "Segmentation fault"), never equal to a number.
if(NOT status STREQUAL "${CODE}")
  list(APPEND problems "exit status '${status}', expected ${CODE}")
endif()
string(FIND "${err}" "terminate called" terminate)
if(NOT terminate EQUAL -1)
  list(APPEND problems "stderr says 'terminate called' (an uncaught exception)")
endif()
string(FIND "${err}" "${PROGRAM}: error: " prefix)
if(NOT prefix EQUAL 0)
  list(APPEND problems "stderr does not begin with '${PROGRAM}: error: '")
endif()
string(REGEX MATCHALL "\n" breaks "${err}")
list(LENGTH breaks lines)
string(LENGTH "${err}" length)
if(length GREATER 0)
  math(EXPR last "${length} - 1")
  string(SUBSTRING "${err}" ${last} 1 end)
endif()
if(NOT lines EQUAL 1 OR NOT end STREQUAL "\n")
  list(APPEND problems "stderr is not exactly one line (${lines} line breaks)")
endif()
if(problems)
  list(JOIN problems "; " text)
  message(FATAL_ERROR "${EXE} ${ARGS}: ${text}")
endif()
