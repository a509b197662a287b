# tinydiff_program_error_test(NAME TARGET PROGRAM CODE ARG...): a CTest test that runs the
# program TARGET with the arguments ARG... (a bad command line, a missing file) and checks that
# it fails the way every program of the project must (tensor/program.h): exit code CODE and
# exactly one line on stderr, "PROGRAM: error: ...", never "terminate called" or a crash.
# The check is cmake/check_program_error.cmake; the tests carry the label "program_errors".
function(tinydiff_program_error_test name target program code)
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:${target}> -DPROGRAM=${program} -DCODE=${code} "-DARGS=${ARGN}"
                   -P ${PROJECT_SOURCE_DIR}/cmake/check_program_error.cmake)
  # OMP_WAIT_POLICY is left unset on purpose: the programs then re-execute themselves once at
  # start-up (tensor/process_env.h), as they do on a user's machine.
  set_tests_properties(${name} PROPERTIES LABELS program_errors TIMEOUT 120 ENVIRONMENT "OMP_NUM_THREADS=1")
endfunction()
