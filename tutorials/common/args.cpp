// The tutorials' shared command line. See args.h.
#include "tutorials/common/args.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace tinydiff::tutorial {

std::string TutorialArgs::path(const std::string& file) const { return (std::filesystem::path(out) / file).string(); }

namespace {

void print_usage(std::FILE* stream, const std::string& name, const std::string& summary, bool checkpoint) {
  fmt::print(stream,
             "tutorial {}: {}\n"
             "usage: tutorial_{} [--quick] [--out DIR]{}\n"
             "  --quick    small loops (what CTest runs); the figures are rougher\n"
             "  --out DIR  where figures, CSV and gnuplot files go (default tutorial_out/{})\n",
             name, summary, name, checkpoint ? " [--checkpoint FILE]" : "", name);
  if (checkpoint)
    fmt::print(stream,
               "  --checkpoint FILE  reuse a trained model (a checkpoint.safetensors) instead of training one\n");
}

}  // namespace

TutorialArgs parse_tutorial_args(int argc, char** argv, const std::string& name, const std::string& summary,
                                 bool accepts_checkpoint) {
  TutorialArgs args;
  args.out = "tutorial_out/" + name;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") {
      args.quick = true;
    } else if (a == "--out" && i + 1 < argc) {
      args.out = argv[++i];
    } else if (a == "--checkpoint" && accepts_checkpoint && i + 1 < argc) {
      args.checkpoint = argv[++i];
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout, name, summary, accepts_checkpoint);
      std::exit(0);
    } else {
      fmt::print(stderr, "tutorial_{}: unknown argument '{}'\n", name, a);
      print_usage(stderr, name, summary, accepts_checkpoint);
      std::exit(2);
    }
  }
  std::filesystem::create_directories(args.out);
  fmt::print("tutorial {}: {} ({} mode, output in {})\n", name, summary, args.quick ? "quick" : "full", args.out);
  return args;
}

void heading(const std::string& title) { fmt::print("\n== {} ==\n", title); }

}  // namespace tinydiff::tutorial
