// Sequential container. See sequential.h.
#include "nn/sequential.h"

#include <fmt/format.h>

namespace tinydiff {

Variable Sequential::forward(const Variable& x) const {
  Variable h = x;
  for (const auto& step : steps_) h = step(h);
  return h;
}

Module& Sequential::operator[](size_t i) const {
  TD_CHECK(i < modules_.size(), "Sequential",
           fmt::format("index {} out of range for a Sequential of {} modules", i, modules_.size()));
  return *modules_[i];
}

}  // namespace tinydiff
