# Runs one tutorial in --quick mode and checks that it wrote each of its figures.
# cmake -DEXE=path/to/tutorial_NN_topic -DOUT=output/dir "-DFIGURES=a.png;b.png" -P check_figures.cmake
foreach(var EXE OUT FIGURES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_figures.cmake: -D${var}=... is required")
  endif()
endforeach()

# Start from an empty folder, so a figure left over from an earlier run cannot pass the check.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${EXE} --quick --out ${OUT} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${EXE} --quick failed (exit status ${status})")
endif()

set(missing "")
foreach(figure ${FIGURES})
  set(path ${OUT}/${figure})
  if(NOT EXISTS ${path})
    list(APPEND missing ${figure})
    continue()
  endif()
  file(SIZE ${path} bytes)
  # A PNG starts with the 8-byte signature 89 50 4E 47 0D 0A 1A 0A.
  file(READ ${path} signature LIMIT 8 HEX)
  if(bytes LESS 100 OR NOT signature STREQUAL "89504e470d0a1a0a")
    list(APPEND missing "${figure} (not a PNG, ${bytes} bytes)")
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "${EXE} did not write these figures into ${OUT}: ${missing}")
endif()
list(LENGTH FIGURES count)
message(STATUS "${count} figures written to ${OUT}")
