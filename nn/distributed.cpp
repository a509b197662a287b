// Data-parallel training across processes: MPI when built with TINYDIFF_MPI (which defines
// TINYDIFF_HAVE_MPI for this file), else the single-process fallback. See distributed.h.
#include "nn/distributed.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tensor/error.h"

#ifndef TINYDIFF_HAVE_MPI
#define TINYDIFF_HAVE_MPI 0
#endif
#if TINYDIFF_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (no deprecated C++ bindings)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace tinydiff {

namespace {
bool g_active = false;  // a DistributedSession initialised MPI
int g_rank = 0, g_size = 1;

// The flat float32 buffer's length for `params`, checked to fit MPI's int counts.
int64_t checked_count(int64_t n, const char* op) {
  TD_CHECK(n <= INT_MAX, op, fmt::format("{} values exceed MPI's int count limit ({})", n, INT_MAX));
  return n;
}
}  // namespace

bool distributed_built() { return TINYDIFF_HAVE_MPI != 0; }

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_SIZE") != nullptr;
}

DistributedSession::DistributedSession(int* argc, char*** argv) {
  if (!launched_by_mpi() || g_active) return;
#if TINYDIFF_HAVE_MPI
  // Only the main thread calls MPI; OpenMP threads never do (MPI_THREAD_FUNNELED).
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_active = true;
  active_ = true;
#else
  (void)argc;
  (void)argv;
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (n != nullptr && std::atoi(n) > 1)
    std::fputs(fmt::format("tinydiff: warning: started by mpirun with {} processes, but this build has no MPI "
                           "(configure with -DTINYDIFF_MPI=ON); each process runs alone\n",
                           n)
                   .c_str(),
               stderr);
#endif
}

DistributedSession::~DistributedSession() {
#if TINYDIFF_HAVE_MPI
  if (active_) {
    MPI_Finalize();
    g_active = false;
    g_rank = 0;
    g_size = 1;
  }
#endif
}

int world_rank() { return g_rank; }
int world_size() { return g_size; }

BatchShard batch_shard(int64_t batch, int rank, int ranks) {
  TD_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "batch_shard",
           fmt::format("rank {} is not in [0, {})", rank, ranks));
  TD_CHECK(batch >= ranks, "batch_shard",
           fmt::format("a batch of {} cannot be split over {} ranks; give a batch of at least {} (one example per "
                       "rank)",
                       batch, ranks, ranks));
  const int64_t base = batch / ranks, extra = batch % ranks;
  BatchShard s;
  s.begin = rank * base + std::min<int64_t>(rank, extra);
  s.end = s.begin + base + (rank < extra ? 1 : 0);
  return s;
}

void broadcast_parameters(const std::vector<Variable>& params, int root) {
  for (const Variable& p : params) {
    TD_CHECK(p.value().dtype() == DType::F32 && p.value().is_contiguous(), "broadcast_parameters",
             fmt::format("parameters must be contiguous float32 tensors; got {} of shape {}",
                         dtype_name(p.value().dtype()), shape_str(p.value().shape())));
  }
#if TINYDIFF_HAVE_MPI
  if (!g_active || g_size == 1) return;
  for (const Variable& p : params) {
    Tensor& v = Variable(p).mutable_value();
    const int64_t n = checked_count(v.numel(), "broadcast_parameters");
    MPI_Bcast(v.data<float>(), static_cast<int>(n), MPI_FLOAT, root, MPI_COMM_WORLD);
  }
#else
  (void)root;
#endif
}

GradientAllReduce all_reduce_gradients(const std::vector<Variable>& params, double weight) {
  const char* op = "all_reduce_gradients";
  int64_t total = 0;
  for (const Variable& p : params) {
    if (p.has_grad())
      TD_CHECK(p.grad().dtype() == DType::F32, op,
               fmt::format("gradients must be float32; got {} for a parameter of shape {}",
                           dtype_name(p.grad().dtype()), shape_str(p.value().shape())));
    total += p.value().numel();
  }
  GradientAllReduce result;
  if (world_size() == 1 && weight == 1.0) return result;  // nothing to do

  // buffer: every gradient in order (zeros where missing), then one has-gradient slot per parameter.
  const int64_t count = checked_count(total + static_cast<int64_t>(params.size()), op);
  std::vector<float> buffer(static_cast<size_t>(count), 0.0f);
  const float w = static_cast<float>(weight);
  int64_t offset = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const Variable& p = params[k];
    const int64_t n = p.value().numel();
    if (p.has_grad()) {
      const Tensor g = p.grad().contiguous();
      const float* src = g.data<float>();
      float* dst = buffer.data() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = w * src[i];
      buffer[static_cast<size_t>(total) + k] = 1.0f;
    }
    offset += n;
  }
  result.bytes = count * static_cast<int64_t>(sizeof(float));
#if TINYDIFF_HAVE_MPI
  if (g_active && g_size > 1) {
    const auto t0 = std::chrono::steady_clock::now();
    MPI_Allreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
#endif
  offset = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    Variable p = params[k];
    const int64_t n = p.value().numel();
    if (buffer[static_cast<size_t>(total) + k] > 0.0f) {
      Tensor g = Tensor::empty(p.value().shape(), DType::F32);
      std::memcpy(g.data<float>(), buffer.data() + offset, static_cast<size_t>(n) * sizeof(float));
      p.set_grad(std::move(g));
    }
    offset += n;
  }
  return result;
}

double all_reduce_sum(double value) { return all_reduce_sum(std::vector<double>{value}).front(); }

std::vector<double> all_reduce_sum(const std::vector<double>& values) {
  std::vector<double> out = values;
#if TINYDIFF_HAVE_MPI
  if (g_active && g_size > 1 && !out.empty())
    MPI_Allreduce(MPI_IN_PLACE, out.data(),
                  static_cast<int>(checked_count(static_cast<int64_t>(out.size()), "all_reduce_sum")), MPI_DOUBLE,
                  MPI_SUM, MPI_COMM_WORLD);
#endif
  return out;
}

bool all_reduce_any(bool flag) {
  int v = flag ? 1 : 0;
#if TINYDIFF_HAVE_MPI
  if (g_active && g_size > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
  return v != 0;
}

bool all_ranks_equal(uint64_t value) {
  // max(v) and max(~v) = ~min(v) in one call: equal everywhere when max == min.
  uint64_t v[2] = {value, ~value};
#if TINYDIFF_HAVE_MPI
  if (g_active && g_size > 1) MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
#endif
  return v[0] == ~v[1];
}

void barrier() {
#if TINYDIFF_HAVE_MPI
  if (g_active && g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

uint64_t tensor_checksum(const std::vector<Tensor>& tensors, uint64_t hash) {
  for (const Tensor& t : tensors) {
    const Tensor v = t.contiguous();
    const auto* bytes = static_cast<const unsigned char*>(v.raw_data());
    const size_t n = static_cast<size_t>(v.numel() * dtype_size(v.dtype()));
    for (size_t i = 0; i < n; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;  // the FNV prime
  }
  return hash;
}

uint64_t parameter_checksum(const std::vector<Variable>& params) {
  std::vector<Tensor> values;
  for (const Variable& p : params) values.push_back(p.value());
  return tensor_checksum(values);
}

void abort_all_ranks(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#if TINYDIFF_HAVE_MPI
  if (g_active) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace tinydiff
