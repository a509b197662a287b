// The op profiler. See profiler.h.
#include "autograd/profiler.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include <time.h>

namespace tinydiff {

namespace detail {
bool g_profiling = false;
}  // namespace detail

namespace {
std::mutex g_mutex;
std::map<std::string, OpProfile, std::less<>> g_records;
double g_last_ms = 0.0;  // end of the previous op (forward clock)
ProfileClock g_clock = ProfileClock::Wall;
}  // namespace

double detail::profile_now_ms() {
  if (g_clock == ProfileClock::ProcessCpu) {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void set_profiling_clock(ProfileClock clock) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_clock = clock;
  g_last_ms = detail::profile_now_ms();
}

void set_profiling(bool on) {
  std::lock_guard<std::mutex> lock(g_mutex);
  detail::g_profiling = on;
  g_last_ms = detail::profile_now_ms();
}

bool profiling() noexcept { return detail::g_profiling; }

void profiler_reset() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_records.clear();
  g_last_ms = detail::profile_now_ms();
}

void profiler_mark() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_last_ms = detail::profile_now_ms();
}

namespace {
OpProfile& record(std::string_view name) {
  auto it = g_records.find(name);
  if (it == g_records.end()) {
    it = g_records.emplace(std::string(name), OpProfile{}).first;
    it->second.name = std::string(name);
  }
  return it->second;
}
}  // namespace

void detail::profile_forward(const char* name) {
  const double now = profile_now_ms();
  std::lock_guard<std::mutex> lock(g_mutex);
  OpProfile& r = record(name);
  r.forward_ms += now - g_last_ms;
  r.forward_calls += 1;
  g_last_ms = now;
}

void detail::profile_backward(std::string_view name, double ms) {
  std::lock_guard<std::mutex> lock(g_mutex);
  OpProfile& r = record(name);
  r.backward_ms += ms;
  r.backward_calls += 1;
}

std::vector<OpProfile> profiler_results() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<OpProfile> out;
  out.reserve(g_records.size());
  for (const auto& [name, r] : g_records) out.push_back(r);
  std::stable_sort(out.begin(), out.end(), [](const OpProfile& a, const OpProfile& b) {
    return a.forward_ms + a.backward_ms > b.forward_ms + b.backward_ms;
  });
  return out;
}

}  // namespace tinydiff
