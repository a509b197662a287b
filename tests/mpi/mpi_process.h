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

/// `mpirun -np ranks tinydiff args...` (or, with ranks == 0, `tinydiff args...` alone), to start
/// with test_cli::Child in a folder: stdout and stderr land in dir/<tag>.stdout and dir/<tag>.stderr,
/// and the child is killed when destroyed still running.
inline test_cli::Launch mpi_launch(int ranks, const std::vector<std::string>& args) {
  test_cli::Launch l = test_cli::tinydiff_launch(args);
  if (ranks > 0) {
    const std::vector<std::string> mpirun = {kMpiexec, "--oversubscribe",    "--bind-to", "none",
                                             "-np",    std::to_string(ranks)};
    l.argv.insert(l.argv.begin(), mpirun.begin(), mpirun.end());
  }
  l.env = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};
  return l;
}

/// Runs `tinydiff args...` on `ranks` MPI ranks (0: alone, without mpirun) in `dir` to its end and
/// requires exit code 0.
inline Ended run_ranks(int ranks, const std::vector<std::string>& args, const fs::path& dir, const std::string& tag) {
  test_cli::Child c(mpi_launch(ranks, args), dir, tag);
  Ended e = c.wait(300);
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
