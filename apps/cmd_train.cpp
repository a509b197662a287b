// `tinydiff train`: trains a text-to-image model and writes checkpoints, a log and sample grids.
#include <fmt/format.h>

#include <cmath>
#include <exception>
#include <filesystem>
#include <memory>
#include <string_view>
#include <type_traits>
#include <variant>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "apps/output_dir.h"
#include "apps/signals.h"
#include "diffusion/data/dataset.h"
#include "diffusion/models/checkpoint_schema.h"
#include "diffusion/models/model_config.h"
#include "diffusion/training/trainer.h"
#include "nn/distributed.h"

namespace tinydiff::cli {
namespace {

// With several MPI ranks every rank parses the same command line: only rank 0 speaks.
void warn(const std::string& text) {
  if (world_rank() == 0) print_warning(text);
}

struct TrainArgs {
  TrainOptions options;
  std::string progress = "auto";
};

// Options that shape the training trajectory: on --resume they come from the checkpoint unless
// given again, in which case they override it with a warning.
struct Override {
  const char* flag;
  std::string stored, given;
};

// The checks of the command line beyond the option table's ranges and choices: a flag given must
// ask for something (--steps 0 is the "no limit" default, not a request), upper limits, names.
void check_args(const TrainArgs& a, const CLI::App& sub) {
  const TrainOptions& o = a.options;
  const auto usage = [](const std::string& problem, const std::string& hint) {
    throw CliError(kExitUsage, problem, hint);
  };
  constexpr int64_t kMaxSteps = 1'000'000'000'000;  // also catches values that overflowed while parsing
  if (sub.count("--steps") && (o.steps < 1 || o.steps > kMaxSteps))
    usage(fmt::format("--steps must be 1..{}, got {}", kMaxSteps, o.steps),
          "give the total number of steps, e.g. --steps 2000");
  if (sub.count("--stop-after") && o.stop_after > kMaxSteps)
    usage(fmt::format("--stop-after must be 1..{}, got {}", kMaxSteps, o.stop_after), "give a number of steps");
  if (o.batch > 1'000'000) usage(fmt::format("--batch must be 1..1000000, got {}", o.batch), "the default is 64");
  if (sub.count("--minutes") && !(o.minutes > 0 && std::isfinite(o.minutes)))
    usage(fmt::format("--minutes must be positive, got {}", o.minutes), "give the training time, e.g. --minutes 5");
  if (sub.count("--stop-after") && o.stop_after < 1)
    usage(fmt::format("--stop-after must be at least 1, got {}", o.stop_after), "give a number of steps");
  for (const TrainOption& row : train_option_table()) {
    if (row.flag == nullptr || sub.count(row.flag) == 0) continue;
    const std::string problem = option_problem(o, row, true);
    if (!problem.empty()) usage(problem, fmt::format("{} ('{}' in checkpoints): {}", row.flag, row.name, row.help));
  }
  if (a.progress != "auto" && a.progress != "bar" && a.progress != "lines" && a.progress != "none")
    usage(fmt::format("unknown --progress '{}'", a.progress), "choose one of: auto, bar, lines, none");
  bool known = false;
  for (const auto& n : training_data_names()) known = known || n == o.dataset;
  if (!known) usage(fmt::format("unknown data set '{}'", o.dataset), "choose --dataset fashion or --dataset shapes");
  try {
    model_config_image_sizes(o.config);
  } catch (const Error&) {
    usage(fmt::format("unknown config '{}'", o.config),
          fmt::format("choose --config {}", fmt::join(model_config_names(), ", ")));
  }
}

// What to do about an error reading a --data folder (image_folder.h).
std::string folder_hint(std::string_view problem) {
  const auto has = [&](const char* text) { return problem.find(text) != std::string_view::npos; };
  if (has("MemAvailable")) return "give a smaller --image-size, or train on fewer images";
  if (has("holds no images") || has("lists no usable images") || has("folder '") || has("is not a folder"))
    return "--data DIR needs images with DIR/metadata.jsonl (\"file_name\", \"text\" per line) or a caption .txt "
           "beside each image";
  return "fix or remove that entry, or add --skip-bad to skip bad entries with a warning";
}

ProgressStyle progress_style(const std::string& name) {
  if (name == "bar") return ProgressStyle::Bar;
  if (name == "lines") return ProgressStyle::Lines;
  if (name == "none") return ProgressStyle::None;
  return ProgressStyle::Auto;
}

// The options of a resumed run: the checkpoint's, with the command line's explicit choices on top.
TrainOptions resume_options(const TrainArgs& a, const CLI::App& sub, const std::string& checkpoint) {
  TrainOptions stored;
  int64_t step = 0;
  try {
    stored = read_checkpoint_train_options(checkpoint, &step);
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot resume from '{}': {}", checkpoint, e.what()),
                   "the file is damaged or not a tinydiff training checkpoint; use another --out to start afresh");
  }
  // The table says, option by option, what a resume keeps, takes or refuses (train_options.h).
  const auto given = [&](const TrainOption& row) { return row.flag != nullptr && sub.count(row.flag) > 0; };
  ResumeReport report;
  TrainOptions o;
  try {
    o = resumed_options(stored, a.options, given, report);
  } catch (const Error& e) {
    const std::string why = std::string(e.what()).substr(e.op().size() + 2);  // without the "resume: " prefix
    throw CliError(kExitUsage, fmt::format("cannot resume '{}': {}", checkpoint, why),
                   "a resumed run keeps its data, model and prediction type");
  }
  if (!report.ignored.empty())
    warn(fmt::format("ignored when resuming: {}; a resumed run continues the checkpoint's random streams",
                     fmt::join(report.ignored, ", ")));
  std::vector<std::string>& changed = report.changed;
  if (o.steps > 0 && o.steps <= step && o.minutes == 0 && o.stop_after == 0) {
    if (world_rank() == 0)
      std::fputs(fmt::format("tinydiff: '{}' is already at step {} (--steps {}); nothing to do. Give a larger "
                             "--steps to train further.\n",
                             checkpoint, step, o.steps)
                     .c_str(),
                 stdout);
    throw CliExit{kExitOk};
  }
  if (o.lr_decay == "cosine" && o.steps != stored.steps)
    changed.push_back(fmt::format("the cosine decay now ends at step {} (was {})", o.steps, stored.steps));
  if (!changed.empty())
    warn(fmt::format("resuming with changed settings: {}; the run will differ from an uninterrupted one",
                     fmt::join(changed, ", ")));
  return o;
}

// What set_up makes: the output folder (rank 0 only) and the trainer.
struct TrainSetUp {
  std::unique_ptr<OutputDir> out;
  std::unique_ptr<Trainer> trainer;
  TrainOptions options;
};

// Everything before the first step: checks, options (from the checkpoint on --resume), data,
// output folder, trainer. Throws CliError / CliExit.
TrainSetUp set_up(const TrainArgs& given, const CLI::App& sub) {
  TrainArgs args = given;
  if (sub.count("--data") > 0) {  // a folder instead of a built-in data set
    if (sub.count("--dataset") > 0 && args.options.dataset != "folder")
      throw CliError(kExitUsage,
                     fmt::format("give --dataset or --data, not both (got --dataset {} and --data {})",
                                 args.options.dataset, args.options.data),
                     "--data DIR trains on a folder of captioned images; --dataset on a built-in set");
    args.options.dataset = "folder";
  }
  check_args(args, sub);
  // Every value is checked before any file is looked at, so a bad value is reported as such
  // whatever the state of --out. (A resume may take its step count from the checkpoint.)
  TrainOptions probe = args.options;
  if (probe.steps == 0 && probe.minutes == 0 && probe.stop_after == 0) probe.steps = 1;
  try {
    validate(probe);
  } catch (const Error& e) {
    throw CliError(kExitUsage, e.what(), "run 'tinydiff train --help' for the options");
  }
  const std::string checkpoint = checkpoint_file(args.options.out_dir);
  const bool has_checkpoint = std::filesystem::exists(checkpoint);
  TrainOptions o;
  if (args.options.resume) {
    if (!has_checkpoint)
      throw CliError(kExitBadFile, fmt::format("there is no checkpoint to resume in '{}'", args.options.out_dir),
                     "check --out, or drop --resume to start a new run");
    o = resume_options(args, sub, checkpoint);
  } else {
    if (has_checkpoint)
      throw CliError(kExitUsage, fmt::format("'{}' already holds a checkpoint", args.options.out_dir),
                     "add --resume to continue it, or choose another --out for a new run");
    o = args.options;
    if (!sub.count("--steps") && !sub.count("--minutes") && !sub.count("--stop-after"))
      throw CliError(kExitUsage, "say how long to train", "give --steps N (total steps) or --minutes M");
  }
  o.progress = progress_style(args.progress);
  try {
    validate(o);
  } catch (const Error& e) {
    throw CliError(kExitUsage, e.what(), "run 'tinydiff train --help' for the options");
  }

  std::unique_ptr<TrainingData> data;
  try {
    DataOptions d = data_options(o);
    d.folder.progress = world_rank() == 0;
    data = make_training_data(o.dataset, d);
  } catch (const Error& e) {
    if (o.dataset == "folder") throw CliError(kExitBadFile, e.what(), folder_hint(e.what()));
    throw CliError(kExitBadFile, fmt::format("cannot load the '{}' data set: {}", o.dataset, e.what()),
                   "install it with 'apt-get install dataset-fashion-mnist', or point --data-dir at the IDX files");
  }

  TrainSetUp u;
  if (world_rank() == 0) u.out = std::make_unique<OutputDir>(o.out_dir, "--out");  // only rank 0 writes there
  try {
    u.trainer = std::make_unique<Trainer>(o, std::move(data));
  } catch (const Error& e) {
    throw CliError(o.resume ? kExitBadFile : kExitUsage, e.what(),
                   o.resume ? "the checkpoint does not fit these options; use another --out to start afresh"
                            : "run 'tinydiff train --help' for the options");
  }
  u.options = o;
  // The grids' prompts as the model will read them: warn about words it has never seen.
  for (const std::string& prompt : o.validation_prompts) {
    const Tokenizer::Encoded enc = u.trainer->tokenizer().encode(prompt);
    if (!enc.unknown.empty())
      warn(fmt::format("--validation-prompt \"{}\": the word{} '{}' {} not in the training captions (read as <unk>)",
                       prompt, enc.unknown.size() == 1 ? "" : "s", fmt::join(enc.unknown, "', '"),
                       enc.unknown.size() == 1 ? "is" : "are"));
  }
  return u;
}

// With several ranks, every rank must learn whether set-up failed anywhere before the first
// collective call of training (else the others would wait for it forever). A rank that failed
// rethrows its error (quietly when rank 0 failed too and says why); the others exit quietly,
// rank 0 saying that another rank failed.
void agree_on_set_up(const std::exception_ptr& failure) {
  const int rank = world_rank();
  const std::vector<double> failed = all_reduce_sum({failure ? 1.0 : 0.0, failure && rank == 0 ? 1.0 : 0.0});
  if (failed[0] == 0) return;
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const CliExit&) {
      throw;
    } catch (const CliError& e) {
      if (rank == 0) throw;
      if (failed[1] > 0) throw CliExit{e.code()};
      throw CliError(e.code(), fmt::format("rank {}: {}", rank, e.what()), e.hint());
    } catch (...) {
      if (rank == 0 || failed[1] == 0) throw;
      throw CliExit{kExitUsage};
    }
  }
  if (rank == 0)
    throw CliError(kExitBadFile, fmt::format("{} of the {} ranks could not start training", failed[0], world_size()),
                   "see their messages");
  throw CliExit{kExitBadFile};
}

void run_train(const TrainArgs& args, const CLI::App& sub) {
  const int rank = world_rank(), ranks = world_size();
  TrainSetUp u;
  if (ranks == 1) {
    u = set_up(args, sub);
  } else {
    std::exception_ptr failure;
    try {
      u = set_up(args, sub);
    } catch (...) {
      failure = std::current_exception();
    }
    agree_on_set_up(failure);
  }
  const TrainOptions& o = u.options;
  std::unique_ptr<Trainer>& trainer = u.trainer;
  if (u.out) u.out->keep();  // from here on the folder holds a run (log, checkpoints)
  install_stop_signal_handlers();
  TrainResult r;
  try {
    r = trainer->run(stop_requested);
  } catch (const std::exception& e) {
    if (ranks > 1) {
      // Possibly this rank alone (rank 0 writing a checkpoint): the others cannot be told, so end them all.
      print_error(fmt::format("rank {}: {}", rank, e.what()),
                  "check free disk space and that --out is writable; then add --resume");
      abort_all_ranks(kExitBadFile);
    }
    if (dynamic_cast<const Error*>(&e) == nullptr) throw;
    throw CliError(kExitBadFile, e.what(), "check free disk space and that --out is writable; then add --resume");
  }
  // Wait for rank 0's last checkpoint: mpirun ends the whole job as soon as one rank exits with a
  // non-zero code (130 after a stop), which must not cut that write short.
  if (ranks > 1) barrier();
  if (rank != 0) {  // rank 0 reports for all
    if (r.diverged) throw CliExit{kExitTrainingFailed};
    if (r.interrupted) throw CliExit{kExitInterrupted};
    return;
  }
  if (r.diverged) throw CliError(kExitTrainingFailed, r.message, "resume from the last checkpoint with a lower --lr");
  if (r.interrupted) {
    std::fputs(fmt::format("tinydiff: interrupted at step {}; checkpoint saved to {}; continue with: tinydiff train "
                           "--out {} --resume\n",
                           r.step, trainer->checkpoint_path(), o.out_dir)
                   .c_str(),
               stderr);
    throw CliExit{kExitInterrupted};
  }
  std::fputs(fmt::format("tinydiff: done, {} (step {}, {} steps in {:.0f} s); checkpoint: {}\n"
                         "sample with: tinydiff sample --checkpoint {} --prompt \"{}\" --out {}/images\n",
                         r.message, r.step, r.steps_this_run, r.seconds, trainer->checkpoint_path(),
                         trainer->checkpoint_path(), trainer->preview_prompts().front(), o.out_dir)
                 .c_str(),
             stdout);
}

}  // namespace

void add_train_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("train", "Train a text-to-image model (text encoder + U-Net) from scratch");
  auto args = std::make_shared<TrainArgs>();
  TrainOptions& o = args->options;
  // One flag per row of the option table (train_options.h), in its order.
  for (const TrainOption& row : train_option_table()) {
    if (row.flag == nullptr) continue;
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(o.*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            sub->add_flag(row.flag, o.*member, row.help);
          } else {
            CLI::Option* flag = sub->add_option(row.flag, o.*member, row.help);
            if (row.show_default) flag->capture_default_str();
            if constexpr (std::is_same_v<T, uint64_t>) flag->check(non_negative_integer());
            if constexpr (std::is_same_v<T, std::vector<std::string>>)
              flag->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->type_name("TEXT");
          }
        },
        row.member);
  }
  sub->get_option("--out")->required();
  sub->get_option("--rank-log")->type_name("DIR");
  sub->get_option("--data")->type_name("DIR");
  sub->add_option("--progress", args->progress, "Progress display: auto, bar, lines, none")->capture_default_str();
  sub->callback([args, sub] { run_train(*args, *sub); });
}

}  // namespace tinydiff::cli
