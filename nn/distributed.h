/// \file
/// \brief Data-parallel training across processes with MPI: start-up, the batch shard of each rank, the
/// parameter broadcast, the gradient all-reduce and small agreements between ranks.
///
/// **Data parallelism** (as PyTorch's DistributedDataParallel; Goyal et al., "Accurate, Large
/// Minibatch SGD: Training ImageNet in 1 Hour", 2017). N processes ("ranks") hold identical
/// copies of the model. Each step, rank r computes the loss on its shard of \f$b_r\f$ of the
/// \f$B\f$ examples of the global batch, \f$\sum_r b_r = B\f$, and its gradient
/// \f$g_r = \nabla \frac{1}{b_r}\sum_{i \in r} \ell_i\f$. The gradient of the global batch mean is
/// the weighted sum
/// \f[ g = \nabla \frac{1}{B}\sum_{i=1}^{B} \ell_i = \sum_r \frac{b_r}{B}\, g_r, \f]
/// which `all_reduce_gradients` computes with one `MPI_Allreduce` (sum) over a flat buffer of
/// every gradient, each rank first scaling its own by \f$b_r/B\f$ (so a batch that does not
/// divide evenly is still weighted exactly). Every rank then holds the same \f$g\f$ and takes the
/// same optimizer step, so the copies stay identical without ever sending weights again. The
/// buffer is float32: \f$4P\f$ bytes for \f$P\f$ parameters; a ring all-reduce sends and
/// receives about \f$2\frac{N-1}{N} \cdot 4P\f$ bytes per rank per step.
///
/// **Start-up.** `DistributedSession` calls `MPI_Init` only when the process was started by an
/// MPI launcher (`mpirun`/`mpiexec`, seen from the environment variables Open MPI, MPICH and
/// PMIx set), so the same program runs as a single process without it. Without MPI
/// (`TINYDIFF_MPI=OFF`, or not under a launcher) every function here behaves as for one rank:
/// `world_rank()` 0, `world_size()` 1, reductions return their input, broadcasts do nothing.
///
/// **Agreement.** Collective calls block until every rank makes them, so ranks must take the
/// same decisions (stop, skip a step) in the same order: `all_reduce_any` makes a flag true on
/// every rank when it is true on one, and `all_ranks_equal` checks that a checksum (e.g.
/// `parameter_checksum`) is the same everywhere.
///
/// Usage (one step of a data-parallel loop):
/// \code
///   DistributedSession mpi(&argc, &argv);                       // in main(); MPI_Init under mpirun
///   broadcast_parameters(model.parameters());                   // once: rank 0's weights everywhere
///   const BatchShard shard = batch_shard(B, world_rank(), world_size());
///   ... forward and backward on rows [shard.begin, shard.end) of the global batch ...
///   all_reduce_gradients(model.parameters(), double(shard.size()) / B);   // the global-batch gradient
///   optimizer.step();                                           // the same step on every rank
/// \endcode
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace tinydiff {

/// True when tinydiff was built with MPI (CMake option TINYDIFF_MPI).
bool distributed_built();

/// True when the environment shows an MPI launcher started this process (Open MPI's
/// `OMPI_COMM_WORLD_SIZE`, PMIx's `PMIX_RANK`, or MPICH/PMI's `PMI_SIZE`).
bool launched_by_mpi();

/// Initialises MPI for the lifetime of the object when built with MPI and launched_by_mpi();
/// otherwise does nothing. Create one, first thing in main(). The destructor calls `MPI_Finalize`.
class DistributedSession {
 public:
  /// `argc`, `argv`: main's, passed on to `MPI_Init`.
  DistributedSession(int* argc, char*** argv);
  ~DistributedSession();
  DistributedSession(const DistributedSession&) = delete;
  DistributedSession& operator=(const DistributedSession&) = delete;
  /// True when this object initialised MPI.
  bool active() const { return active_; }

 private:
  bool active_ = false;
};

/// This process's rank in MPI_COMM_WORLD: 0 without an active session.
int world_rank();
/// Number of ranks in MPI_COMM_WORLD: 1 without an active session.
int world_size();

/// Rows [begin, end) of a global batch that one rank trains on.
struct BatchShard {
  int64_t begin = 0;  ///< first row
  int64_t end = 0;    ///< one past the last row
  /// Rows in the shard, \f$b_r\f$.
  int64_t size() const { return end - begin; }
};

/// Rank `rank`'s contiguous shard of a batch of `batch` rows split over `ranks` ranks: the
/// first `batch % ranks` ranks get one row more, so sizes differ by at most one and the shards,
/// in rank order, tile [0, batch). E.g. batch_shard(5, 1, 2) == {3, 5}. Throws Error unless
/// 0 <= rank < ranks and batch >= ranks (every rank needs at least one row).
BatchShard batch_shard(int64_t batch, int rank, int ranks);

/// Copies rank `root`'s parameter values into every other rank's (in place, in order; the ranks
/// must hold the same shapes). Throws Error when a parameter is not a contiguous float32 tensor.
void broadcast_parameters(const std::vector<Variable>& params, int root = 0);

/// What all_reduce_gradients did.
struct GradientAllReduce {
  double seconds = 0.0;  ///< wall time inside MPI_Allreduce (includes waiting for slower ranks)
  int64_t bytes = 0;     ///< size of the reduced buffer
};

/// Replaces every gradient by \f$\sum_r w_r\, g_r\f$ over the ranks, where this rank's
/// \f$w_r\f$ is `weight` (see the file comment): the gradients are copied into one float32
/// buffer (a missing gradient counts as zeros, plus one slot per parameter counting the ranks
/// that had one), summed with one MPI_Allreduce, and copied back as new gradient tensors
/// (a parameter gets a gradient when any rank had one). With one rank it only scales by
/// `weight` (and skips the copies when `weight` is 1). Throws Error when a gradient is not
/// float32.
GradientAllReduce all_reduce_gradients(const std::vector<Variable>& params, double weight);

/// The sum of `value` over the ranks (double precision).
double all_reduce_sum(double value);
/// Element-wise sums over the ranks (double precision); every rank passes the same length.
std::vector<double> all_reduce_sum(const std::vector<double>& values);
/// True on every rank when `flag` is true on at least one.
bool all_reduce_any(bool flag);
/// True when `value` is the same on every rank.
bool all_ranks_equal(uint64_t value);

/// Waits until every rank has called it (MPI_Barrier).
void barrier();

/// The 64-bit FNV-1a hash of the tensors' bytes (row-major), in order, continuing from `hash`
/// (the FNV offset basis by default): equal for bit-identical tensors.
uint64_t tensor_checksum(const std::vector<Tensor>& tensors, uint64_t hash = 0xcbf29ce484222325ull);
/// tensor_checksum of the parameter values, in order: equal on ranks whose weights are bit-identical.
uint64_t parameter_checksum(const std::vector<Variable>& params);

/// Ends every rank of the job with exit code `code` (MPI_Abort); without an active session,
/// std::exit(code). For an error on one rank that the others cannot learn of (they would wait
/// for it forever in the next collective call).
[[noreturn]] void abort_all_ranks(int code);

}  // namespace tinydiff
