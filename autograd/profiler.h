/// \file
/// \brief A lightweight, off-by-default op profiler: wall-clock time by op name, forward and backward.
///
/// When profiling is on, the autograd layer measures
///
/// - **forward**: every differentiable op ends by calling `make_result` (also under a
///   NoGradGuard, where no graph is recorded). The time from the previous op's end (or from
///   `profiler_mark()`) to this op's end is charged to this op's name. So an op's forward time
///   includes any glue code run just before it (argument checks, views, Variable bookkeeping);
///   call `profiler_mark()` before a forward pass so that set-up work is not charged to the
///   first op.
/// - **backward**: the engine times each node's backward function (charged to the op's name),
///   the summing of adjoints that reach a value along several paths (`engine.accumulate`) and
///   the accumulation into leaves' `grad()` (`accumulate_grad`).
///
/// The engine measures with a `ProfileScope`, an RAII timer that charges the time until its end
/// of scope to a name. When profiling is off (the default) the cost is one test of a global flag
/// per op and per backward node. Only the thread that runs the model should record; the records
/// are process-wide and guarded by a mutex.
///
/// Usage:
/// \code
///   set_profiling(true);
///   profiler_reset();
///   profiler_mark();
///   Variable loss = mse_loss(model.forward(x, t, ids, mask), Variable(noise));
///   loss.backward();
///   for (const OpProfile& p : profiler_results()) fmt::print("{} {} {}\n", p.name, p.forward_ms, p.backward_ms);
///   set_profiling(false);
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tinydiff {

/// Accumulated time of one op name.
struct OpProfile {
  std::string name;            ///< the op's name as given to make_result ("conv2d", "group_norm", ...)
  double forward_ms = 0.0;     ///< total forward time, milliseconds
  int64_t forward_calls = 0;   ///< number of forward calls
  double backward_ms = 0.0;    ///< total backward time, milliseconds
  int64_t backward_calls = 0;  ///< number of backward calls
};

/// The clock the profiler reads.
enum class ProfileClock {
  Wall,        ///< wall-clock time (the default)
  ProcessCpu,  ///< CPU time of the whole process, all threads: on a busy machine with one thread,
               ///< the work an op did, without the time the operating system kept it waiting
};

/// Turns the profiler on or off (off by default). Turning it on also restarts the forward clock.
void set_profiling(bool on);
/// Chooses the clock (wall by default); call before profiler_reset().
void set_profiling_clock(ProfileClock clock);
/// True while the profiler records.
bool profiling() noexcept;
/// Clears every record.
void profiler_reset();
/// Restarts the forward clock: the next op's forward time is measured from now.
void profiler_mark();
/// Every op seen since the last reset, sorted by total (forward + backward) time, largest first.
std::vector<OpProfile> profiler_results();

namespace detail {
/// The flag tested by the hot paths (use profiling() elsewhere).
extern bool g_profiling;
/// Charges the time since the previous mark to `name`'s forward and restarts the clock.
void profile_forward(const char* name);
/// Adds `ms` of backward time to `name`.
void profile_backward(std::string_view name, double ms);
/// The profiler's clock (see ProfileClock) in milliseconds.
double profile_now_ms();
}  // namespace detail

/// Charges the wall (or CPU, see ProfileClock) time from its construction to its destruction to
/// `name`'s backward time, when the profiler is on; does nothing otherwise. `name` must outlive
/// the scope. The engine times every node's backward function, the summing of adjoints and the
/// accumulation into leaves with one each:
/// \code
///   {
///     ProfileScope timed(node.name);
///     grads = node.backward(g);
///   }
/// \endcode
class ProfileScope {
 public:
  /// Starts the clock when the profiler is on.
  explicit ProfileScope(std::string_view name)
      : on_(detail::g_profiling), name_(name), start_ms_(on_ ? detail::profile_now_ms() : 0.0) {}
  /// Records the time since construction (if the profiler was on then).
  ~ProfileScope() {
    if (on_) detail::profile_backward(name_, detail::profile_now_ms() - start_ms_);
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  bool on_;
  std::string_view name_;
  double start_ms_;
};

}  // namespace tinydiff
