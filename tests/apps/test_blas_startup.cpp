// Start-up of the tinydiff command (tensor/process_env.h): the OpenBLAS kernel set is chosen for
// the CPU and self-checked in a child process, the verdict is cached, a failing set falls back
// with one warning, a user's OPENBLAS_CORETYPE is respected with one warning, and the program
// re-executes itself at most once. The library recognises this machine's CPU, so the tests make
// the start-up act as if it had loaded its oldest kernels (TINYDIFF_BLAS_PRETEND_LOADED=Prescott).
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/blas_core.h"
#include "tensor/cpu_features.h"
#include "tests/apps/cli_process.h"

using namespace tinydiff;
using namespace tinydiff::test_cli;

namespace {

// `tinydiff info --system` in `dir` with a cold environment: the cache in dir/cache, none of the
// start-up variables set, plus `env`.
Ended system_info(const fs::path& dir, const std::vector<std::string>& env, const std::string& tag) {
  Launch l = tinydiff_launch({"info", "--system"});
  l.env = env;
  l.env.push_back("XDG_CACHE_HOME=" + (dir / "cache").string());
  // Every start-up variable is removed, except those the test sets in `env`.
  for (const char* name : {"OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "TINYDIFF_REEXEC", "TINYDIFF_BLAS_CORE",
                           "TINYDIFF_BLAS_WARNING", "TINYDIFF_BLAS_PRETEND_LOADED"}) {
    const bool given = std::any_of(env.begin(), env.end(),
                                   [&](const std::string& e) { return e.rfind(std::string(name) + "=", 0) == 0; });
    if (!given) l.unset.emplace_back(name);
  }
  Child c(l, dir, tag);
  return c.wait(120);
}

// The value of the `info --system` row `name` ("kernels", "start-up", ...).
std::string row(const std::string& out, const std::string& name) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0) {
      const size_t at = line.find_first_not_of(' ', name.size());
      return at == std::string::npos ? "" : line.substr(at);
    }
  return "";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// The best set for this CPU; tests that need an older set below it skip on an SSE3-only CPU.
const std::string kBest = best_blas_core(detect_cpu_features());

}  // namespace

TEST_CASE("start-up chooses the best kernels, checks them in a child, caches the verdict, re-executes once", "[blas]") {
  if (blas_core_level(kBest) <= 1) {
    WARN("skipped: this CPU has nothing better than the oldest kernels");
    return;
  }
  const fs::path dir = fresh_dir("blas_choose");
  const Ended first = system_info(dir, {"TINYDIFF_BLAS_PRETEND_LOADED=Prescott"}, "first");
  INFO(first.err);
  REQUIRE(first.exited);
  REQUIRE(first.code == 0);
  CHECK(first.err.empty());
  CHECK(row(first.out, "kernels").rfind(kBest + " (chosen by tinydiff for this CPU)", 0) == 0);
  CHECK(row(first.out, "start-up") == "re-executed once to set the variables above");
  CHECK(row(first.out, "wait policy") == "OMP_WAIT_POLICY=passive");
  const fs::path cache = dir / "cache" / "tinydiff" / "blas_check.txt";
  const std::vector<std::string> verdicts = lines_of(read_file(cache));
  REQUIRE(verdicts.size() == 1);  // only the best set was checked: it passed
  CHECK(verdicts[0].find("|" + kBest + "|") != std::string::npos);
  CHECK(verdicts[0].substr(verdicts[0].size() - 5) == "\tpass");

  // Again: the cached verdict is used (no new line), same choice.
  const Ended second = system_info(dir, {"TINYDIFF_BLAS_PRETEND_LOADED=Prescott"}, "second");
  CHECK(second.code == 0);
  CHECK(row(second.out, "kernels") == row(first.out, "kernels"));
  CHECK(lines_of(read_file(cache)) == verdicts);

  // A set whose verdict is "fail" is passed over with one warning naming it and the reason.
  {
    std::ofstream out(cache, std::ios::trunc);
    out << std::regex_replace(verdicts[0], std::regex("\tpass$"), "\tfail: planted failure") << '\n';
  }
  const Ended fallback = system_info(dir, {"TINYDIFF_BLAS_PRETEND_LOADED=Prescott"}, "fallback");
  INFO(fallback.err);
  CHECK(fallback.code == 0);
  const std::vector<std::string> warnings = lines_of(fallback.err);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].rfind("tinydiff: warning: OpenBLAS kernels failed tinydiff's GEMM self-check (" + kBest +
                              ": planted failure); using ",
                          0) == 0);
  const std::string used = row(fallback.out, "kernels");
  CHECK(used.find("(chosen by tinydiff for this CPU)") != std::string::npos);
  CHECK(blas_core_level(used.substr(0, used.find(' '))) < blas_core_level(kBest));

  // Every set failing, the loaded one included: one error line, exit code 4.
  {
    const std::string key = verdicts[0];
    const size_t a = key.find('|'), b = key.find('|', a + 1);
    std::ofstream out(cache, std::ios::trunc);
    for (const char* core : {"Cooperlake", "SkylakeX", "Haswell", "Zen", "Sandybridge", "Nehalem", "Core2", "Prescott"})
      out << key.substr(0, a + 1) << core << key.substr(b, key.rfind('\t') - b) << "\tfail: planted failure\n";
  }
  const Ended none = system_info(dir, {"TINYDIFF_BLAS_PRETEND_LOADED=Prescott"}, "none");
  CHECK(none.code == 4);
  const std::vector<std::string> errors = lines_of(none.err);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("tinydiff: error: every OpenBLAS kernel set failed tinydiff's GEMM self-check", 0) == 0);
  CHECK(none.out.empty());
}

TEST_CASE("a user's older OPENBLAS_CORETYPE is respected with one warning line", "[blas]") {
  if (blas_core_level(kBest) <= 1) {
    WARN("skipped: this CPU has nothing better than the oldest kernels");
    return;
  }
  const fs::path dir = fresh_dir("blas_user");
  const Ended e = system_info(dir, {"OPENBLAS_CORETYPE=Prescott"}, "user");
  REQUIRE(e.code == 0);
  const std::vector<std::string> warnings = lines_of(e.err);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].rfind("tinydiff: warning: OPENBLAS_CORETYPE=Prescott keeps OpenBLAS on SSE3 kernels", 0) == 0);
  CHECK(warnings[0].find("unset OPENBLAS_CORETYPE") != std::string::npos);
  CHECK(row(e.out, "kernels").rfind("Prescott (OPENBLAS_CORETYPE set by you)", 0) == 0);
  CHECK_FALSE(fs::exists(dir / "cache" / "tinydiff" / "blas_check.txt"));  // nothing was chosen or checked

  const Ended quiet = system_info(dir, {"OPENBLAS_CORETYPE=Prescott", "TINYDIFF_BLAS_WARNING=off"}, "quiet");
  CHECK(quiet.code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("start-up re-executes only when a variable has to change", "[blas]") {
  const fs::path dir = fresh_dir("blas_reexec");
  // The user chose both: nothing to set.
  const Ended both = system_info(dir, {"OPENBLAS_CORETYPE=" + kBest, "OMP_WAIT_POLICY=active"}, "both");
  REQUIRE(both.code == 0);
  CHECK(both.err.empty());
  CHECK(row(both.out, "start-up") == "ran as started (nothing to set)");
  CHECK(row(both.out, "wait policy") == "OMP_WAIT_POLICY=active");
  // Only the wait policy unset: one re-execution, which sets it to passive.
  const Ended wait = system_info(dir, {"OPENBLAS_CORETYPE=" + kBest}, "wait");
  REQUIRE(wait.code == 0);
  CHECK(row(wait.out, "start-up") == "re-executed once to set the variables above");
  CHECK(row(wait.out, "wait policy") == "OMP_WAIT_POLICY=passive");
}
