// Catch2 helper for the autograd tests: CHECK_GRADCHECK(name, f, inputs[, options]) runs
// tinydiff::gradcheck and fails the test with its message (op, input, element, values, tolerance).
#pragma once

#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"

/// CHECK that gradcheck(name, f, inputs[, options]) passes; on failure Catch2 prints its message.
#define CHECK_GRADCHECK(name, ...)                                                                       \
  do {                                                                                                   \
    const ::tinydiff::GradcheckResult td_gradcheck_result_ = ::tinydiff::gradcheck((name), __VA_ARGS__); \
    INFO(td_gradcheck_result_.message);                                                                  \
    CHECK(td_gradcheck_result_.ok);                                                                      \
  } while (0)
