/// \file
/// \brief Test helpers for data-parallel training: run build/tinydiff under mpirun (or alone) as a child
/// process, compare two checkpoints within a tolerance, read the per-rank logs of `--rank-log`.
///
/// mpirun is the launcher CMake found (TINYDIFF_MPIEXEC), started with `--oversubscribe` (more
/// ranks than free cores is fine for correctness tests), `--bind-to none`, and
/// OMPI_ALLOW_RUN_AS_ROOT=1, OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (CI runs as root), OMP_NUM_THREADS=1.
///
/// Usage:
/// \code
///   const fs::path dir = mpi_dir("parity");
///   const Ended e = run_ranks(2, train_args(dir / "two", 6, 1), dir);   // mpirun -np 2 tinydiff train ...
///   REQUIRE(e.code == 0);
/// \endcode
#pragma once

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tests/apps/cli_process.h"

namespace tinydiff::test_mpi {

using test_cli::Ended;
using test_cli::read_file;
namespace fs = std::filesystem;

/// The MPI launcher CMake found (mpiexec).
inline const std::string kMpiexec = TINYDIFF_MPIEXEC;

/// An empty folder build/test_runs/mpi-<pid>/<name>.
inline fs::path mpi_dir(const std::string& name) {
  const fs::path dir = fs::path(TINYDIFF_BINARY_DIR) / "test_runs" / ("mpi-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// A running `mpirun -np ranks tinydiff args...` (or, with ranks == 0, `tinydiff args...` alone) in
/// folder `dir`, stdout and stderr in dir/<tag>.stdout and dir/<tag>.stderr. Killed when destroyed
/// still running.
class MpiChild {
 public:
  /// Starts the job (see the class comment).
  MpiChild(int ranks, const std::vector<std::string>& args, const fs::path& dir, const std::string& tag)
      : out_(dir / (tag + ".stdout")), err_(dir / (tag + ".stderr")) {
    std::vector<std::string> argv_s;
    if (ranks > 0)
      argv_s = {kMpiexec, "--oversubscribe", "--bind-to", "none", "-np", std::to_string(ranks), test_cli::kBinary};
    else
      argv_s = {test_cli::kBinary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0 && std::strncmp(*e, "OMP_WAIT_POLICY=", 16) != 0)
        env_s.emplace_back(*e);
    for (const char* v : {"OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=passive", "OMPI_ALLOW_RUN_AS_ROOT=1",
                          "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"})
      env_s.emplace_back(v);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string cwd = dir.string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv_s.front().c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  ~MpiChild() {
    if (!ended_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  MpiChild(const MpiChild&) = delete;
  MpiChild& operator=(const MpiChild&) = delete;

  /// Sends `sig` to mpirun (or the lone process) while it runs.
  void signal(int sig) const {
    if (!ended_ && pid_ > 0) ::kill(pid_, sig);
  }
  /// Waits for the end (at most `seconds`, then kills it and fails the test).
  Ended wait(double seconds = 300) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        ended_ = true;
        FAIL("the job did not finish within " << seconds << " s; stderr:\n" << read_file(err_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ended_ = true;
    Ended e;
    e.exited = WIFEXITED(status);
    e.code = e.exited ? WEXITSTATUS(status) : -1;
    e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    e.out = read_file(out_);
    e.err = read_file(err_);
    return e;
  }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
  bool ended_ = false;
};

/// Runs `tinydiff args...` on `ranks` MPI ranks (0: alone, without mpirun) in `dir` to its end and
/// requires exit code 0.
inline Ended run_ranks(int ranks, const std::vector<std::string>& args, const fs::path& dir, const std::string& tag) {
  MpiChild c(ranks, args, dir, tag);
  Ended e = c.wait();
  INFO(tag << " stdout:\n" << e.out << "\nstderr:\n" << e.err);
  REQUIRE(e.exited);
  REQUIRE(e.code == 0);
  return e;
}

/// How far two checkpoints' tensors are apart.
struct CheckpointDiff {
  double max_abs = 0.0;    ///< largest |a - b| over every element
  std::string worst;       ///< the tensor holding it
  bool same_names = true;  ///< both hold the same tensor names, shapes and dtypes, in order
  bool all_equal = true;   ///< every element equal (as a value)
};

/// Compares every tensor of two checkpoint files (weights, AdamW moments, EMA).
inline CheckpointDiff compare_checkpoints(const fs::path& a, const fs::path& b) {
  const SafetensorsData ca = load_safetensors(a.string()), cb = load_safetensors(b.string());
  CheckpointDiff d;
  d.same_names = ca.tensors.size() == cb.tensors.size();
  for (size_t i = 0; d.same_names && i < ca.tensors.size(); ++i) {
    const auto& [name, ta] = ca.tensors[i];
    const Tensor& tb = cb.tensors[i].second;
    if (name != cb.tensors[i].first || ta.shape() != tb.shape() || ta.dtype() != tb.dtype()) {
      d.same_names = false;
      break;
    }
    const std::vector<double> va = ta.to_vector(), vb = tb.to_vector();
    for (size_t k = 0; k < va.size(); ++k) {
      const double diff = std::fabs(va[k] - vb[k]);
      if (!(va[k] == vb[k]) && !(std::isnan(va[k]) && std::isnan(vb[k]))) d.all_equal = false;
      if (diff > d.max_abs || std::isnan(diff)) {
        d.max_abs = std::isnan(diff) ? INFINITY : diff;
        d.worst = name;
      }
    }
  }
  return d;
}

/// The metadata of a checkpoint file.
inline std::map<std::string, std::string> checkpoint_metadata(const fs::path& path) {
  return load_safetensors(path.string()).metadata;
}

/// The JSON lines of a file.
inline std::vector<nlohmann::json> json_lines(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace tinydiff::test_mpi
