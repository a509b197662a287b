# Copies the parts of MathJax 2 that the pages use (TeX input, SVG output with the TeX
# font, the English strings) from Debian's libjs-mathjax into the HTML folder, so the
# manual renders formulas without a network. About 3 MB instead of the package's 54 MB.
# Usage: cmake -DSRC=/usr/share/javascript/mathjax -DDST=build/docs/html/mathjax -P copy_mathjax.cmake
if(NOT SRC OR NOT DST)
  message(FATAL_ERROR "copy_mathjax.cmake: set -DSRC=<mathjax dir> -DDST=<destination>")
endif()
file(MAKE_DIRECTORY ${DST})
file(COPY ${SRC}/MathJax.js DESTINATION ${DST})
file(COPY ${SRC}/extensions DESTINATION ${DST})
file(COPY ${SRC}/jax/input/TeX DESTINATION ${DST}/jax/input)
file(COPY ${SRC}/jax/element DESTINATION ${DST}/jax)
file(COPY ${SRC}/jax/output/SVG DESTINATION ${DST}/jax/output
     REGEX "/fonts/[^/]+$" EXCLUDE)  # every SVG font but TeX (copied next)
file(COPY ${SRC}/jax/output/SVG/fonts/TeX DESTINATION ${DST}/jax/output/SVG/fonts)
file(COPY ${SRC}/localization/en DESTINATION ${DST}/localization)
