// The tinydiff command: parses the command line with CLI11 and runs one subcommand (commands.h).
// Every failure ends here as one line on stderr and a documented exit code (cli_errors.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "nn/distributed.h"
#include "tensor/error.h"
#include "tensor/process_env.h"
#include "tensor/version.h"

namespace {

// "tinydiff train" when a subcommand was chosen, else "tinydiff".
std::string command_name(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return "tinydiff " + sub->get_name();
  return "tinydiff";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tinydiff::cli;
  // Before anything else (may re-execute the program once to set OMP_WAIT_POLICY and OPENBLAS_CORETYPE;
  // tensor/process_env.h).
  tinydiff::prepare_process(argv);
  // MPI_Init when started by mpirun (data-parallel `tinydiff train`, nn/distributed.h); MPI_Finalize on return.
  const tinydiff::DistributedSession mpi(&argc, &argv);
  CLI::App app{"tinydiff: train text-to-image diffusion models from scratch on the CPU, and sample from them.",
               "tinydiff"};
  app.set_version_flag("--version", "tinydiff " + tinydiff::version_string());
  app.require_subcommand(1);
  // An option given twice takes its last value (as most Unix tools do), so a script can
  // append overrides to a shared command line. Subcommands inherit this default.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.footer(
      "Exit codes: 0 success, 1 usage error, 2 bad file or folder, 3 training diverged, 4 unexpected failure "
      "(out of memory, or a bug), 130 interrupted.\n"
      "Run 'tinydiff <command> --help' for a command's options.");
  add_all_commands(app);
  if (argc <= 1) {
    std::fputs(app.help().c_str(), stdout);
    return kExitUsage;
  }
  // An unknown first word or option would only get CLI11's "A subcommand is required": name it.
  const std::string first = argv[1];
  if (first != "-h" && first != "--help" && first != "--version" && first.rfind("--help-", 0) != 0 && !first.empty() &&
      first[0] == '-') {
    print_error(fmt::format("unknown option '{}'", first),
                "put a command first, e.g. 'tinydiff train --help'; 'tinydiff --help' lists the commands");
    return kExitUsage;
  }
  if (!first.empty() && first[0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), first) == names.end()) {
      print_error(fmt::format("unknown command '{}'", first), fmt::format("choose one of: {}", fmt::join(names, ", ")));
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
    return kExitOk;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what(), fmt::format("run '{} --help' for the options", command_name(app)));
    return kExitUsage;
  } catch (const CliError& e) {
    print_error(e.what(), e.hint());
    return e.code();
  } catch (const CliExit& e) {
    return e.code;
  } catch (const tinydiff::Error& e) {
    print_error(e.what(), fmt::format("run '{} --help' for the options", command_name(app)));
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    print_error("out of memory", "use a smaller --batch or --count");
    return kExitUnexpected;
  } catch (const std::exception& e) {
    print_error(e.what(), "this is unexpected; please report it with the command line");
    return kExitUnexpected;
  } catch (...) {
    print_error("an exception that is not a std::exception",
                "this is unexpected; please report it with the command line");
    return kExitUnexpected;
  }
}
