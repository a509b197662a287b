// Stop requests for `tinydiff train`. See signals.h.
#include "apps/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

#include "nn/distributed.h"

namespace tinydiff::cli {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
std::atomic<bool> g_stop_requested{false};

extern "C" void on_stop_signal(int) {
  g_stop_signal = 1;
  static const char msg[] = "\ntinydiff: stopping after this step and saving a checkpoint (signal again to quit now)\n";
  const ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
}
}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal gets the default action
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // mpirun answers SIGINT/SIGTERM by killing the ranks about a second later (too soon to finish a
  // step), but forwards SIGUSR1 to every rank as it is.
  if (world_size() > 1) sigaction(SIGUSR1, &sa, nullptr);
}
bool stop_requested() { return g_stop_signal != 0 || g_stop_requested.load(); }
void request_stop() { g_stop_requested = true; }
void clear_stop_request() {
  g_stop_signal = 0;
  g_stop_requested = false;
}

}  // namespace tinydiff::cli
