// Start-up: OpenMP wait policy and OpenBLAS kernels, with the self-check child (tensor/process_env.h).
#include "tensor/process_env.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <omp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tensor/blas_core.h"
#include "tensor/cpu_features.h"
#include "tensor/program.h"

extern char** environ;

namespace tinydiff {

namespace {

constexpr int kProbePassed = 0;
constexpr int kProbeWrongProducts = 1;
constexpr int kProbeNotLoaded = 3;

bool reexecuted_now = false;  // set by prepare_process in the re-executed image

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string program_name(char** argv) {
  if (argv == nullptr || argv[0] == nullptr) return "tinydiff";
  return std::filesystem::path(argv[0]).filename().string();
}

// The self-check child: exits with kProbe*. Never returns.
[[noreturn]] void run_probe(const std::string& core) {
  if (openblas_core_name() != core) std::_Exit(kProbeNotLoaded);
  std::_Exit(check_gemm().empty() ? kProbePassed : kProbeWrongProducts);
}

// Runs this program as the self-check child for `core`; "" when it passed, else why not.
std::string probe_in_child(const std::string& core) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string s = *e;
    if (s.rfind("OPENBLAS_CORETYPE=", 0) == 0 || s.rfind("TINYDIFF_BLAS_PROBE=", 0) == 0) continue;
    env_strings.push_back(s);
  }
  env_strings.push_back("OPENBLAS_CORETYPE=" + core);
  env_strings.push_back("TINYDIFF_BLAS_PROBE=" + core);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string arg0 = "tinydiff-blas-probe";
  char* child_argv[] = {arg0.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, child_argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fmt::format("could not start the self-check ({})", std::strerror(rc));

  // A self-check takes about 0.1 s; a child that hangs is killed after 60 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return "lost the self-check process";
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return "the self-check did not finish in 60 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFSIGNALED(status))
    return fmt::format("the self-check died of signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  switch (WEXITSTATUS(status)) {
    case kProbePassed:
      return "";
    case kProbeWrongProducts:
      return "its matrix products differ from the naive ones";
    case kProbeNotLoaded:
      return "this OpenBLAS does not load it";
    default:
      return fmt::format("the self-check exited with status {}", WEXITSTATUS(status));
  }
}

// The verdict cache: lines "<key>\t<verdict>" where verdict is "pass" or "fail: why".
std::string cache_file() { return (std::filesystem::path(cache_folder()) / "blas_check.txt").string(); }

// The OpenBLAS build (its config string without the name of the set it loaded), the set, the CPU.
std::string verdict_key(const std::string& core, const CpuFeatures& cpu) {
  // Word by word, leaving out the loaded set's name (string::replace here drew a false
  // -Wrestrict warning from GCC 12 at -O3).
  std::istringstream words(openblas_config());
  const std::string loaded = openblas_core_name();
  std::string build, word;
  while (words >> word)
    if (word != loaded) build += (build.empty() ? "" : " ") + word;
  return fmt::format("{}|{}|{}|{}", build, core, cpu.model_name, cpu_feature_list(cpu));
}

// The cached verdict for `key`, or "?" when none.
std::string cached_verdict(const std::string& key) {
  std::ifstream in(cache_file());
  std::string line;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos && line.compare(0, tab, key) == 0) return line.substr(tab + 1);
  }
  return "?";
}

// Appends a verdict (written to a temporary file and renamed, so readers see whole files).
void remember_verdict(const std::string& key, const std::string& verdict) {
  std::error_code ec;
  const std::filesystem::path file = cache_file();
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return;
  std::stringstream old;
  {
    std::ifstream in(file);
    old << in.rdbuf();
  }
  const std::filesystem::path tmp = file.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << old.str() << key << '\t' << verdict << '\n';
    if (!out) return;
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

// "" when `core` passed its self-check (cached or run now), else why not.
std::string self_check(const std::string& core, const CpuFeatures& cpu) {
  const std::string key = verdict_key(core, cpu);
  const std::string cached = cached_verdict(key);
  if (cached == "pass") return "";
  if (cached.rfind("fail: ", 0) == 0) return cached.substr(6);
  const std::string failure = probe_in_child(core);
  remember_verdict(key, failure.empty() ? "pass" : "fail: " + failure);
  return failure;
}

// Chooses the kernel set; returns true when OPENBLAS_CORETYPE was changed (re-execute).
bool prepare_blas(const std::string& program) {
  const CpuFeatures cpu = detect_cpu_features();
  const std::string user = env_or_empty("OPENBLAS_CORETYPE");
  // For tests: act as if OpenBLAS had loaded this (older) set, so that the choice, the self-check
  // child, the fallbacks and the re-execution can be exercised on a CPU the library recognises.
  const std::string pretend = user.empty() ? env_or_empty("TINYDIFF_BLAS_PRETEND_LOADED") : "";
  const std::string loaded = pretend.empty() ? openblas_core_name() : pretend;
  const std::string ours = env_or_empty("TINYDIFF_BLAS_CORE");
  if (!user.empty() && user == ours) return false;  // chosen by tinydiff in this process tree
  const BlasChoice choice = choose_blas_core(cpu, loaded, user.empty() ? nullptr : user.c_str());
  if (choice.action == BlasChoice::Action::kWarn) {
    if (env_or_empty("TINYDIFF_BLAS_WARNING") != "off") {
      print_program_warning(program, choice.message);
      setenv("TINYDIFF_BLAS_WARNING", "off", 1);
    }
    return false;
  }
  if (choice.action != BlasChoice::Action::kSet || reexecuted_now) return false;
  std::vector<std::string> failures;
  for (const std::string& core : choice.candidates) {
    const std::string failure = self_check(core, cpu);
    if (!failure.empty()) {
      failures.push_back(fmt::format("{}: {}", core, failure));
      continue;
    }
    if (!failures.empty())
      print_program_warning(program, fmt::format("OpenBLAS kernels failed tinydiff's GEMM self-check ({}); using {}",
                                                 fmt::join(failures, "; "), core));
    if (core == loaded) return false;  // the library's own set is the best that works
    setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    setenv("TINYDIFF_BLAS_CORE", core.c_str(), 1);
    return true;
  }
  print_program_error(
      program,
      fmt::format("every OpenBLAS kernel set failed tinydiff's GEMM self-check ({})", fmt::join(failures, "; ")),
      "set OPENBLAS_CORETYPE to a kernel set that works on this CPU (e.g. Haswell), or report it");
  std::exit(kExitUnexpected);
}

}  // namespace

void prepare_process(char** argv) {
  const std::string probe = env_or_empty("TINYDIFF_BLAS_PROBE");
  if (!probe.empty()) run_probe(probe);
  const std::string pid = std::to_string(::getpid());
  reexecuted_now = env_or_empty("TINYDIFF_REEXEC") == pid;
  bool reexec = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    reexec = true;
  }
  reexec = prepare_blas(program_name(argv)) || reexec;
  if (!reexec || reexecuted_now || argv == nullptr) return;
  setenv("TINYDIFF_REEXEC", pid.c_str(), 1);
  execv("/proc/self/exe", argv);
  // Only reached if execv failed (e.g. no /proc): run on with what the libraries loaded.
}

ComputeEnvironment compute_environment() {
  ComputeEnvironment env;
  env.blas_core = openblas_core_name();
  env.blas_config = openblas_config();
  env.best_core = best_blas_core(detect_cpu_features());
  const std::string user = env_or_empty("OPENBLAS_CORETYPE");
  if (user.empty())
    env.blas_source = "OpenBLAS's own choice";
  else if (user == env_or_empty("TINYDIFF_BLAS_CORE"))
    env.blas_source = "chosen by tinydiff for this CPU";
  else
    env.blas_source = "OPENBLAS_CORETYPE set by you";
  env.threads = omp_get_max_threads();
  env.wait_policy = env_or_empty("OMP_WAIT_POLICY");
  env.reexecuted = reexecuted_now;
  return env;
}

std::string compute_summary() {
  const ComputeEnvironment env = compute_environment();
  std::string best;
  if (!env.best_core.empty() && blas_core_level(env.best_core) > blas_core_level(env.blas_core))
    best = fmt::format("; this CPU supports {}", env.best_core);
  return fmt::format("OpenBLAS {} kernels ({}{}), {} thread{}, OMP_WAIT_POLICY={}", env.blas_core, env.blas_source,
                     best, env.threads, env.threads == 1 ? "" : "s",
                     env.wait_policy.empty() ? "unset" : env.wait_policy);
}

std::string cache_folder() {
  const std::string xdg = env_or_empty("XDG_CACHE_HOME");
  if (!xdg.empty()) return (std::filesystem::path(xdg) / "tinydiff").string();
  const std::string home = env_or_empty("HOME");
  if (!home.empty()) return (std::filesystem::path(home) / ".cache" / "tinydiff").string();
  return ".tinydiff-cache";
}

}  // namespace tinydiff
