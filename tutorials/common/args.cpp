// The tutorials' shared command line. See args.h.
#include "tutorials/common/args.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "tensor/error.h"
#include "tensor/program.h"

namespace tinydiff::tutorial {

std::string TutorialArgs::path(const std::string& file) const { return (std::filesystem::path(out) / file).string(); }

namespace {

void print_usage(std::FILE* stream, const std::string& name, const std::string& summary, bool checkpoint,
                 bool sampler) {
  fmt::print(stream,
             "tutorial {}: {}\n"
             "usage: tutorial_{} [--quick] [--out DIR]{}{}\n"
             "  --quick    small loops (what CTest runs); the figures are rougher\n"
             "  --out DIR  where figures, CSV and gnuplot files go (default tutorial_out/{})\n",
             name, summary, name, checkpoint ? " [--checkpoint FILE]" : "", sampler ? " [--sampler NAME]" : "", name);
  if (checkpoint)
    fmt::print(stream,
               "  --checkpoint FILE  reuse a trained model (a checkpoint.safetensors) instead of training one\n");
  if (sampler)
    fmt::print(stream, "  --sampler NAME     {} (default ddim; docs/samplers.md compares them)\n",
               fmt::join(sampler_names(), ", "));
}

}  // namespace

std::string sampler_label(SamplerKind kind) { return kind == SamplerKind::Ddim ? "DDIM" : sampler_name(kind); }

TutorialArgs parse_tutorial_args(int argc, char** argv, const std::string& name, const std::string& summary,
                                 bool accepts_checkpoint, bool accepts_sampler) {
  const std::string help_hint = fmt::format("run 'tutorial_{} --help' for the options", name);
  TutorialArgs args;
  args.out = "tutorial_out/" + name;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    // The value after an option that takes one: missing, or another option, is a usage error.
    const auto value = [&](const char* what) -> std::string {
      if (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--"))
        throw ProgramError(kExitUsage, fmt::format("{} needs a value ({})", a, what), help_hint);
      return argv[++i];
    };
    if (a == "--quick") {
      args.quick = true;
    } else if (a == "--out") {
      args.out = value("a folder");
    } else if (a == "--checkpoint" && accepts_checkpoint) {
      args.checkpoint = value("a checkpoint.safetensors file");
    } else if (a == "--sampler" && accepts_sampler) {
      const std::string sampler = value("a sampler name");
      try {
        args.sampler = parse_sampler_kind(sampler);
      } catch (const Error&) {
        throw ProgramError(kExitUsage, fmt::format("unknown sampler '{}'", sampler),
                           fmt::format("choose --sampler {}", fmt::join(sampler_names(), ", ")));
      }
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout, name, summary, accepts_checkpoint, accepts_sampler);
      std::exit(kExitOk);
    } else {
      throw ProgramError(kExitUsage, fmt::format("unknown argument '{}'", a), help_hint);
    }
  }
  if (!args.checkpoint.empty() && !std::filesystem::is_regular_file(args.checkpoint))
    throw ProgramError(kExitBadFile, fmt::format("--checkpoint {}: no such file", args.checkpoint),
                       "give the checkpoint.safetensors of a training run ('tinydiff train' or a tutorial's "
                       "<out>/run/), or leave --checkpoint out to train one");
  std::error_code ec;
  std::filesystem::create_directories(args.out, ec);
  if (ec)
    throw ProgramError(kExitBadFile, fmt::format("--out {}: cannot create the folder: {}", args.out, ec.message()),
                       "choose a folder you can write to");
  fmt::print("tutorial {}: {} ({} mode, output in {})\n", name, summary, args.quick ? "quick" : "full", args.out);
  return args;
}

void heading(const std::string& title) { fmt::print("\n== {} ==\n", title); }

}  // namespace tinydiff::tutorial
