/// \file
/// \brief `TrainOptions`, everything that configures a training run, and the one table of options
/// (`train_option_table`) that drives their validation, their JSON form in checkpoints and the
/// flags of `tinydiff train`.
///
/// Each row of the table names an option as JSON spells it (`ema_decay`) and as the command line
/// does (`--ema`), points at its `TrainOptions` member, and says what values it takes: a range
/// for numbers, a list of choices for text. `validate`, `to_json`, `train_options_from_json` and
/// apps/cmd_train.cpp all walk the same rows, so adding an option is adding a member and a row.
///
/// **What the network learns.** `prediction` chooses the regression target (prediction.h): the
/// noise \f$\epsilon\f$ (`eps`, DDPM), the clean image \f$x_0\f$ (`x0`) or
/// \f$v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0\f$ (`v`, Salimans & Ho 2022).
/// `loss_weight` `min-snr` weights each example's loss by min-SNR-\f$\gamma\f$ with
/// \f$\gamma = 5\f$ (Hang et al. 2023; objective.h); `none` is DDPM's \f$L_{simple}\f$.
///
/// Usage:
/// \code
///   TrainOptions o;
///   o.out_dir = "runs/shapes";
///   o.steps = 1000;
///   o.prediction = "v";
///   validate(o);                                  // throws Error naming the option
///   TrainOptions back = train_options_from_json(to_json(o));
///   for (const TrainOption& row : train_option_table()) std::puts(row.name);
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "diffusion/data/dataset.h"
#include "diffusion/models/model_config.h"
#include "diffusion/process/prediction.h"

namespace tinydiff {

/// How `Trainer::run()` reports progress on stdout.
enum class ProgressStyle {
  Auto,   ///< a progress bar when stdout is a terminal, else Lines
  Bar,    ///< a progress bar redrawn in place
  Lines,  ///< a plain line every 15 seconds and at the end
  None,   ///< nothing but warnings (on stderr)
};

/// Everything that configures a training run (trainer.h). Each member but `progress` has a row in
/// `train_option_table()`.
struct TrainOptions {
  std::string dataset = "fashion";   ///< "fashion" or "shapes" (dataset.h)
  std::string out_dir;               ///< the output folder (see trainer.h)
  int64_t steps = 0;                 ///< total steps to reach (0: no step limit)
  double minutes = 0.0;              ///< wall-clock budget of this run, in minutes (0: none)
  int64_t stop_after = 0;            ///< stop this run after so many steps (0: no limit); leaves the schedule alone
  int64_t batch = 64;                ///< images per step
  std::string config = "tiny";       ///< model preset (model_config.h)
  uint64_t seed = 0;                 ///< seeds the initial weights and the three random streams
  double lr = 1e-3;                  ///< peak learning rate of AdamW
  int64_t warmup = 200;              ///< linear warm-up steps
  std::string lr_decay = "auto";     ///< "cosine" (to min_lr at `steps`), "constant", or "auto": cosine if steps > 0
  double min_lr = 0.0;               ///< final learning rate of the cosine decay
  double weight_decay = 0.01;        ///< AdamW's decoupled weight decay
  double ema_decay = 0.995;          ///< EMA decay (nn/ema.h)
  double caption_dropout = 0.1;      ///< probability of training a caption as the empty prompt
  double grad_clip = 1.0;            ///< max global gradient norm; 0 turns clipping off
  std::string prediction = "eps";    ///< what the network predicts: "eps", "x0" or "v" (prediction.h)
  std::string loss_weight = "none";  ///< "none" or "min-snr" (min-SNR-gamma weighting, gamma = 5; objective.h)
  bool flip = false;                 ///< random horizontal flips (`--hflip`; Fashion-MNIST, folders)
  int64_t checkpoint_every = 250;    ///< steps between checkpoints (0: only at the end)
  int64_t keep_checkpoints = 0;      ///< > 0: also keep the last so many step-numbered checkpoints (trainer.h)
  int64_t sample_every = 500;        ///< steps between sample grids (0: only at the end)
  int64_t preview_per_prompt = 4;    ///< samples per preview prompt in a grid
  int64_t preview_steps = 25;        ///< DDIM steps of the preview grids
  double preview_guidance = 3.0;     ///< guidance scale of the preview grids
  /// The prompts of the sample grids (empty: the data set's preview_prompts()).
  std::vector<std::string> validation_prompts;
  bool resume = false;                           ///< continue from out_dir/checkpoint.safetensors
  int threads = 0;                               ///< OpenMP threads (0: the default, all cores)
  int64_t max_nonfinite = 5;                     ///< stop after so many non-finite steps in a row
  std::string schedule = "linear";               ///< noise schedule name (schedule.h)
  int64_t num_timesteps = 1000;                  ///< T
  std::string fashion_dir = kFashionMnistDir;    ///< where the Fashion-MNIST files are
  std::string data;                              ///< dataset "folder": the folder of captioned images (image_folder.h)
  int64_t image_size = 0;                        ///< S of the model and the prepared images (0: the config's)
  int64_t channels = 0;                          ///< folders: 1 or 3 image channels (0: from the data)
  std::string resize = "crop";                   ///< folders: "crop" (centre square) or "pad" (pad to a square)
  std::string background = "white";              ///< folders: "white" or "black", behind alpha and around padding
  int64_t vocab_size = 0;                        ///< vocabulary cap and embedding rows (0: the config's, 256)
  bool skip_bad = false;                         ///< folders: skip bad entries with a warning instead of failing
  ProgressStyle progress = ProgressStyle::Auto;  ///< progress display (not in the table)
  /// Debugging data-parallel runs: when not empty, every rank appends to `<rank_log>/rank<R>.jsonl`
  /// one line per step (`step`, `rank`, `ranks`, its `rows` [begin, end) of the global batch, their
  /// timesteps `t`, and per row a hex hash of image, noise and caption, `examples`) and one line
  /// with its `param_checksum` when run() ends. Not stored in checkpoints.
  std::string rank_log;
};

/// A pointer to one member of TrainOptions, of any of the types options have.
using TrainOptionMember =
    std::variant<std::string TrainOptions::*, int64_t TrainOptions::*, uint64_t TrainOptions::*, int TrainOptions::*,
                 double TrainOptions::*, bool TrainOptions::*, std::vector<std::string> TrainOptions::*>;

/// The most prompts `validation_prompts` may hold (a grid column each).
inline constexpr int64_t kMaxValidationPrompts = 64;

/// The values a number option takes, and how `validate` says so.
struct OptionRange {
  double min = 0.0;            ///< the smallest value allowed
  bool min_open = false;       ///< true: `min` itself is not allowed
  double max = 1e300;          ///< the largest value allowed
  bool max_open = false;       ///< true: `max` itself is not allowed
  const char* rule = nullptr;  ///< the requirement in words, e.g. "must be at least 1" (null: no range)
};

/// What `--resume` does with a stored option (`resumed_options`). Options that are not stored
/// (`TrainOption::stored` false: the folders, threads, stop_after, ...) always take this run's value.
enum class OnResume {
  Kept,     ///< the checkpoint's value; giving another one is refused (the data, the model, the prediction)
  Ignored,  ///< the checkpoint's value; another one given is ignored with a warning (the seed)
  Updated,  ///< the value given, if any, silently: it does not change what is learned (checkpoint_every, steps)
  Changed,  ///< the value given, if any, with a warning that the run now differs from an uninterrupted one (lr)
};

/// One option: its names, its member, its help text and the values it takes.
struct TrainOption {
  const char* name;                     ///< the JSON key, e.g. "ema_decay"
  const char* flag;                     ///< the `tinydiff train` flag, e.g. "--ema" (null: none)
  const char* help;                     ///< the flag's help text
  TrainOptionMember member;             ///< the TrainOptions member it sets
  OptionRange range{};                  ///< allowed numbers (`rule` null: any finite number)
  std::vector<std::string> choices{};   ///< allowed text values (empty: any)
  bool stored = true;                   ///< written by to_json (describes the run, so checkpoints keep it)
  bool show_default = true;             ///< `--help` shows the default
  OnResume on_resume = OnResume::Kept;  ///< what `--resume` does with it (stored options only)
};

/// Every option, in the order `tinydiff train --help` lists the flags.
const std::vector<TrainOption>& train_option_table();

/// The option with this JSON name or flag; throws Error for an unknown one.
const TrainOption& train_option(const std::string& name_or_flag);

/// What is wrong with option `row` of `options`: "" when its value is in its range or one of its
/// choices, else e.g. "batch must be at least 1, got 0" or "unknown prediction 'w'; choose one of:
/// eps, x0, v", naming the option by its flag (`--batch`) when `as_flag`.
std::string option_problem(const TrainOptions& options, const TrainOption& row, bool as_flag = false);

/// Throws Error naming the first option that is out of range (e.g. "batch must be at least 1,
/// got 0") or not one of its choices ("unknown prediction 'w'; choose one of: eps, x0, v"). At
/// least one of steps, minutes and stop_after must be positive.
void validate(const TrainOptions& options);

/// The stored options as a JSON object (the table's rows with `stored`: the progress style,
/// threads, resume, stop_after and the folders, which do not describe the run, are left out).
std::string to_json(const TrainOptions& options);

/// Parses to_json() output over the defaults (keys missing from older checkpoints keep theirs);
/// throws Error on malformed JSON or mistyped fields.
TrainOptions train_options_from_json(const std::string& json);

/// What `resumed_options` decided, for the warnings a program prints.
struct ResumeReport {
  std::vector<std::string> changed;  ///< e.g. "--lr 0.0005 (was 0.001)": the run now differs
  std::vector<std::string> ignored;  ///< e.g. "--seed 3 (the run continues the streams of seed 0)"
};

/// The options of a resumed run, row by row from the table: `stored` (read from the checkpoint)
/// for the kept options, `given` (this command line) where `was_given(row)` says the flag was given
/// and the row's `on_resume` lets it replace the stored value, and `given` always for options that
/// are not stored. A given `--steps` without `--minutes` ends the stored time budget (minutes 0).
/// Fills `report`; throws Error naming the flag, both values and the fix when a kept option is given
/// with another value (e.g. another `--config`).
TrainOptions resumed_options(const TrainOptions& stored, const TrainOptions& given,
                             const std::function<bool(const TrainOption&)>& was_given, ResumeReport& report);

/// "cosine" or "constant": what `lr_decay` means for these options ("auto" resolved).
std::string resolved_lr_decay(const TrainOptions& options);

/// The model config of a run: the preset `config` for `channels` image channels at the size `image_size`
/// names, else the data's `data_size` (0: unknown), else the preset's largest (tiny 32, tiny64 64); a size
/// the preset does not take is scaled to with with_image_size (model_config.h) when `image_size` asks for it
/// and refused otherwise; `vocab_size` embedding rows when set.
ModelConfig training_model_config(const TrainOptions& options, int64_t channels, int64_t data_size = 0);

/// The DataOptions of make_training_data for these options: flips, the Fashion-MNIST folder and,
/// for the "folder" data set, the folder and its preparation (the image size of
/// training_model_config, the channels, resize and background parsed), skip-bad, the cache folder
/// `cache_folder()/datasets` (tensor/process_env.h).
DataOptions data_options(const TrainOptions& options);

/// The \f$\gamma\f$ of min-SNR weighting for `loss_weight "min-snr"`.
inline constexpr double kMinSnrGamma = 5.0;

/// What the network predicts: `prediction` parsed (prediction.h).
Prediction training_prediction(const TrainOptions& options);

/// The `min_snr_gamma` argument of diffusion_loss (objective.h): kMinSnrGamma for "min-snr", 0 for "none".
double min_snr_gamma(const TrainOptions& options);

}  // namespace tinydiff
