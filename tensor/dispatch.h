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
/// `parallel_for` splits `[0, n)` over OpenMP threads in contiguous chunks; `parallel_tasks`
/// hands out coarse tasks (with a thread index for scratch buffers). Kernels parallelise over
/// *output* indices, so each output element is written by exactly one thread: no atomics, and
/// results are deterministic for a given thread count.
#pragma once

#include <fmt/format.h>
#include <omp.h>
#include <algorithm>
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

/// Total work (rough flops) below which a loop runs on the calling thread: starting and
/// joining a parallel region costs microseconds on an idle machine and whole scheduler time
/// slices on a busy one, so only loops of a few hundred microseconds or more are split.
inline constexpr int64_t kParallelMinWork = int64_t{1} << 18;

/// Runs `body(begin, end)` over contiguous chunks of [0, n), in parallel when the work is
/// large enough. `cost_per_item` is a rough count of flops per index; loops whose total cost
/// is below kParallelMinWork run on the calling thread (as does any loop inside a parallel
/// region). The range is cut into a fixed number of chunks (about four per thread, set by n
/// and the thread count only) handed to the threads one at a time, so a thread that the
/// operating system deschedules does not hold the others up at the join.
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int64_t total = n * (cost_per_item > 0 ? cost_per_item : 1);
  const int nt = num_threads();
  if (total < kParallelMinWork || nt == 1 || omp_in_parallel()) {
    body(int64_t{0}, n);
    return;
  }
  int64_t chunks = std::min<int64_t>(n, 4 * static_cast<int64_t>(nt));
  chunks = std::max<int64_t>(std::min<int64_t>(chunks, total / (kParallelMinWork / 8)), nt);
  chunks = std::min(chunks, n);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * n / chunks, end = (c + 1) * n / chunks;
    if (begin < end) body(begin, end);
  }
}

/// Runs `body(task, thread)` for every task in [0, n): tasks go to the OpenMP threads one at a
/// time (dynamic schedule); `thread` in [0, num_threads()) indexes per-thread scratch memory.
/// For kernels whose tasks are large (an image of a convolution, a block of GEMM rows), with
/// single-threaded BLAS calls inside (OpenBLAS runs on one thread inside a parallel region).
/// Each output must be written by one task; then results do not depend on the schedule.
/// Runs on the calling thread (thread 0) when the total cost is small or one thread is used.
template <typename Body>
void parallel_tasks(int64_t n, int64_t cost_per_task, Body&& body) {
  if (n <= 0) return;
  const int64_t total = n * (cost_per_task > 0 ? cost_per_task : 1);
  if (n == 1 || total < kParallelMinWork || num_threads() == 1 || omp_in_parallel()) {
    for (int64_t i = 0; i < n; ++i) body(i, 0);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) body(i, omp_get_thread_num());
}

}  // namespace tinydiff
