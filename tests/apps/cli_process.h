/// \file
/// \brief Test helpers: run build/tinydiff (or another program, e.g. mpirun) as a child process (posix_spawn), wait,
/// kill, read its output.
///
/// Used by tests/apps/test_reliability.cpp, tests/apps/test_bad_input.cpp and tests/mpi/mpi_process.h.
///
/// Usage:
/// \code
///   Child c(train_args(dir / "run", 8, 1), dir);   // starts `tinydiff train ...` in dir
///   c.signal(SIGTERM);
///   const Ended e = c.wait();                       // e.code == 130, e.err holds stderr
/// \endcode
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tinydiff::test_cli {

namespace fs = std::filesystem;

/// build/tinydiff of this build tree.
inline const std::string kBinary = std::string(TINYDIFF_BINARY_DIR) + "/tinydiff";

/// The whole file (empty when it does not exist).
inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Number of newline characters.
inline int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

/// An empty folder build/test_runs/reliability-<pid>/<name>.
/// (Under a folder of this process: CTest runs test cases as separate processes, several at once.)
inline fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::path(TINYDIFF_BINARY_DIR) / "test_runs" / ("reliability-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// How a child process ended.
struct Ended {
  bool exited = false;  ///< ended by exit(): `code` is valid
  int code = -1;        ///< the exit code
  int signal = 0;       ///< the signal that killed it, or 0
  std::string out;      ///< its stdout
  std::string err;      ///< its stderr
};

/// What to start: the program and its arguments (`argv[0]` is the program's path), variables
/// set in the environment (replacing the defaults OMP_NUM_THREADS=1 and OMP_WAIT_POLICY=passive
/// and inherited values of the same name) and variables removed from it.
struct Launch {
  std::vector<std::string> argv;        ///< program path, then its arguments
  std::vector<std::string> env;         ///< extra "NAME=value" entries
  std::vector<std::string> unset = {};  ///< names removed from the environment
};

/// `tinydiff args...` of this build tree.
inline Launch tinydiff_launch(const std::vector<std::string>& args) {
  Launch l{{kBinary}, {}};
  l.argv.insert(l.argv.end(), args.begin(), args.end());
  return l;
}

/// A running child process in folder `dir` (relative paths resolve there), with stdout and stderr
/// in files of `dir`, OMP_NUM_THREADS=1 (unless the arguments say --threads) and
/// OMP_WAIT_POLICY=passive. Killed (SIGKILL) when destroyed still running.
class Child {
 public:
  /// Starts `tinydiff args...`; stdout and stderr go to dir/<tag>.stdout and dir/<tag>.stderr.
  Child(const std::vector<std::string>& args, const fs::path& dir, const std::string& tag = "child")
      : Child(tinydiff_launch(args), dir, tag) {}

  /// Starts `launch.argv` with `launch.env` added; output files as above.
  Child(const Launch& launch, const fs::path& dir, const std::string& tag)
      : out_(dir / (tag + ".stdout")), err_(dir / (tag + ".stderr")) {
    REQUIRE(!launch.argv.empty());
    const std::string cwd = dir.string();
    std::vector<std::string> argv_s = launch.argv;
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0 && std::strncmp(*e, "OMP_WAIT_POLICY=", 16) != 0)
        env_s.emplace_back(*e);
    env_s.emplace_back("OMP_NUM_THREADS=1");
    env_s.emplace_back("OMP_WAIT_POLICY=passive");  // no spinning threads on a shared, busy machine
    const auto drop = [&](const std::string& name) {
      std::erase_if(env_s, [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; });
    };
    for (const std::string& e : launch.env) {  // an extra entry replaces an inherited or default one
      drop(e.substr(0, e.find('=')));
      env_s.push_back(e);
    }
    for (const std::string& name : launch.unset) drop(name);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv_s.front().c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  ~Child() {
    if (!ended_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// Sends `sig` (nothing once it has ended).
  void signal(int sig) const {
    if (!ended_ && pid_ > 0) ::kill(pid_, sig);  // (never kill(-1, ...): that signals every process)
  }
  /// True until the process has ended.
  bool running() {
    if (ended_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    status_ = status;
    ended_ = true;
    return false;
  }
  /// Waits for the end (at most `seconds`; then kills it and fails the test).
  Ended wait(double seconds = 600) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        ended_ = true;
        FAIL("the child did not finish within " << seconds << " s; stderr:\n" << read_file(err_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Ended e;
    e.exited = WIFEXITED(status_);
    e.code = e.exited ? WEXITSTATUS(status_) : -1;
    e.signal = WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
    e.out = read_file(out_);
    e.err = read_file(err_);
    return e;
  }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool ended_ = false;
};

/// Runs `tinydiff args...` in `dir` to its end.
inline Ended run_tinydiff(const std::vector<std::string>& args, const fs::path& dir, const std::string& tag = "run") {
  Child c(args, dir, tag);
  return c.wait();
}

/// The training command line shared by these tests: the micro model on generated Shapes, batch 4,
/// seed 7, warm-up 3, no sample grids but the final one, no progress display; `extra` is appended.
inline std::vector<std::string> train_args(const fs::path& out, int64_t steps, int threads,
                                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"train", "--dataset", "shapes", "--config", "micro", "--batch", "4", "--seed", "7"};
  a.insert(a.end(), {"--warmup", "3", "--sample-every", "0", "--progress", "none", "--out", out.string()});
  a.insert(a.end(), {"--steps", std::to_string(steps), "--threads", std::to_string(threads)});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace tinydiff::test_cli
