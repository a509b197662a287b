/// \file
/// \brief Dtype dispatch and the OpenMP loop helper that every kernel uses.
///
/// Kernels are templates over the element type `T` (float or double). `dispatch_floating`
/// picks the instantiation from a runtime dtype:
/// \code
///   dispatch_floating(x.dtype(), "exp", [&](auto tag) {
///     using T = decltype(tag);
///     const T* px = x.data<T>();
///     ...
///   });
/// \endcode
/// `parallel_for` splits `[0, n)` over OpenMP threads in contiguous chunks. Kernels
/// parallelise over *output* indices, so each output element is written by exactly one
/// thread: no atomics, and results are deterministic for a given thread count.
#pragma once

#include <fmt/format.h>
#include <omp.h>
#include <cstdint>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Calls `f(float{})` or `f(double{})` according to `dtype`; throws Error(op) for int64.
template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  if (dtype == DType::F32) return f(float{});
  if (dtype == DType::F64) return f(double{});
  throw Error(op, fmt::format("expected a float32 or float64 tensor, got {}", dtype_name(dtype)));
}

/// Number of OpenMP threads kernels will use (from OMP_NUM_THREADS, else the core count).
int num_threads();

/// Runs `body(begin, end)` over contiguous chunks of [0, n), in parallel when the work is
/// large enough. `cost_per_item` is a rough count of flops per index; loops whose total
/// cost is below about 32k flops run on the calling thread (threads cost more than they save).
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int64_t total = n * (cost_per_item > 0 ? cost_per_item : 1);
  if (total < 32768 || num_threads() == 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads();
    const int64_t id = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t begin = id * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    if (begin < end) body(begin, end);
  }
}

}  // namespace tinydiff
