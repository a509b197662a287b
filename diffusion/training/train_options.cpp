// The training options and their table. See train_options.h.
#include "diffusion/training/train_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "tensor/error.h"
#include "tensor/process_env.h"

namespace tinydiff {

namespace {

using O = TrainOptions;
constexpr OptionRange kNotNegative{.rule = "must not be negative"};
constexpr OptionRange kAtLeastOne{.min = 1, .rule = "must be at least 1"};
constexpr OptionRange kPositive{.min = 0, .min_open = true, .rule = "must be positive"};

// `row` with its `on_resume` set: keeps the table's rows short where the default (Kept) does not apply.
TrainOption on_resume(OnResume rule, TrainOption row) {
  row.on_resume = rule;
  return row;
}

std::vector<TrainOption> make_table() {
  // The order is that of `tinydiff train --help`; rows without a flag are stored but fixed.
  return {
      {"dataset", "--dataset", "Training data: fashion (Fashion-MNIST) or shapes (or folder, set by --data)",
       &O::dataset},
      {"data",
       "--data",
       "Train on a folder of captioned images instead of --dataset: DIR/metadata.jsonl (lines with \"file_name\" "
       "and \"text\") or a caption file beside each image (cat.png + cat.txt)",
       &O::data,
       {},
       {},
       true,
       false},
      {"image_size", "--image-size", "Image side of the model and the prepared images (0: the config's, 32)",
       &O::image_size, kNotNegative},
      {"channels",
       "--channels",
       "Image channels for --data: 1 (grey) or 3 (RGB); 0: 1 when every image is grey, else 3",
       &O::channels,
       {.max = 3, .rule = "must be 0 (from the data), 1 or 3"}},
      {"resize",
       "--resize",
       "Non-square images (--data): crop (centre square) or pad (to a square)",
       &O::resize,
       {},
       {"crop", "pad"}},
      {"background",
       "--background",
       "Behind transparent pixels and around padding (--data): white or black",
       &O::background,
       {},
       {"white", "black"}},
      {"vocab_size", "--vocab-size",
       "Vocabulary size (special tokens included) and embedding rows; rarer words become <unk> (0: the config's, 256)",
       &O::vocab_size, kNotNegative},
      on_resume(OnResume::Updated,
                {"skip_bad", "--skip-bad",
                 "With --data: skip unreadable images and bad metadata.jsonl lines with a warning instead of failing",
                 &O::skip_bad}),
      {"out_dir",
       "--out",
       "Output folder: checkpoint.safetensors, log.jsonl, samples/",
       &O::out_dir,
       {},
       {},
       false,
       false},
      on_resume(OnResume::Updated, {"minutes",
                                    "--minutes",
                                    "Train for this many minutes of wall time (this run)",
                                    &O::minutes,
                                    {.rule = "must be positive"},
                                    {},
                                    true,
                                    false}),
      on_resume(OnResume::Updated, {"steps",
                                    "--steps",
                                    "Total number of steps to reach (with --resume: continue up to it)",
                                    &O::steps,
                                    {.rule = "must be at least 1 (or 0 for no limit)"},
                                    {},
                                    true,
                                    false}),
      {"stop_after",
       "--stop-after",
       "Stop this run after this many steps (the schedule still uses --steps)",
       &O::stop_after,
       kNotNegative,
       {},
       false,
       false},
      on_resume(OnResume::Changed, {"batch", "--batch", "Images per step", &O::batch, kAtLeastOne}),
      {"config", "--config",
       "Model size: tiny (1.29M parameters, 32x32), tiny64 (64x64 or 32x32), small, micro; the image size and "
       "channels follow the data",
       &O::config},
      on_resume(OnResume::Ignored,
                {"seed", "--seed", "Seed of the initial weights and of the random streams", &O::seed}),
      on_resume(OnResume::Changed, {"lr", "--lr", "Peak learning rate of AdamW", &O::lr, kPositive}),
      on_resume(OnResume::Changed, {"warmup", "--warmup", "Linear warm-up steps", &O::warmup, kNotNegative}),
      on_resume(OnResume::Changed, {"lr_decay",
                                    "--lr-decay",
                                    "After the warm-up: cosine, constant, auto (cosine with --steps)",
                                    &O::lr_decay,
                                    {},
                                    {"auto", "cosine", "constant"}}),
      on_resume(OnResume::Changed,
                {"min_lr", "--min-lr", "Final learning rate of the cosine decay", &O::min_lr}),  // range: validate()
      on_resume(OnResume::Changed,
                {"weight_decay", "--weight-decay", "AdamW weight decay", &O::weight_decay, kNotNegative}),
      on_resume(OnResume::Changed, {"ema_decay",
                                    "--ema",
                                    "Decay of the EMA weights used for sampling",
                                    &O::ema_decay,
                                    {.max = 1, .max_open = true, .rule = "must be in [0, 1)"}}),
      on_resume(OnResume::Changed, {"caption_dropout",
                                    "--caption-dropout",
                                    "Probability of training on the empty prompt",
                                    &O::caption_dropout,
                                    {.max = 1, .rule = "must be in [0, 1]"}}),
      on_resume(OnResume::Changed, {"grad_clip",
                                    "--grad-clip",
                                    "Maximum gradient norm (0: no clipping)",
                                    &O::grad_clip,
                                    {.rule = "must not be negative (0 turns clipping off)"}}),
      {"prediction",
       "--prediction",
       "What the network predicts: eps (the noise), x0 (the image) or v",
       &O::prediction,
       {},
       {"eps", "x0", "v"}},
      on_resume(OnResume::Changed, {"loss_weight",
                                    "--loss-weight",
                                    "Loss weighting over timesteps: none or min-snr (min-SNR-gamma, gamma 5)",
                                    &O::loss_weight,
                                    {},
                                    {"none", "min-snr"}}),
      on_resume(OnResume::Changed,
                {"flip", "--hflip",
                 "Random horizontal flips of the training images (they turn \"left\" into \"right\")", &O::flip}),
      on_resume(OnResume::Updated,
                {"checkpoint_every", "--checkpoint-every", "Steps between checkpoints (0: only at the end)",
                 &O::checkpoint_every, kNotNegative}),
      on_resume(OnResume::Updated,
                {"keep_checkpoints", "--keep-checkpoints",
                 "Also keep the last N step-numbered checkpoints (checkpoint-00001000.safetensors, ...) written every "
                 "--checkpoint-every steps (0: only the rolling checkpoint.safetensors)",
                 &O::keep_checkpoints, kNotNegative}),
      on_resume(OnResume::Updated, {"sample_every", "--sample-every", "Steps between sample grids (0: only at the end)",
                                    &O::sample_every, kNotNegative}),
      on_resume(OnResume::Updated,
                {"validation_prompts",
                 "--validation-prompt",
                 "A prompt of the sample grids (repeat the flag for more; default: the data set's fixed prompts)",
                 &O::validation_prompts,
                 {},
                 {},
                 true,
                 false}),
      {"preview_per_prompt", nullptr, "Samples per prompt in a sample grid", &O::preview_per_prompt, kAtLeastOne},
      {"preview_steps", nullptr, "DDIM steps of the sample grids", &O::preview_steps, kAtLeastOne},
      {"preview_guidance", nullptr, "Guidance scale of the sample grids", &O::preview_guidance},
      {"resume", "--resume", "Continue the run in --out from its checkpoint", &O::resume, {}, {}, false},
      {"threads", "--threads", "Threads (0: every core)", &O::threads, kNotNegative, {}, false},
      on_resume(OnResume::Updated, {"max_nonfinite", "--max-nonfinite",
                                    "Stop after this many non-finite losses in a row", &O::max_nonfinite, kAtLeastOne}),
      {"schedule", nullptr, "Noise schedule", &O::schedule},
      {"num_timesteps", nullptr, "Diffusion steps T", &O::num_timesteps},
      {"fashion_dir", "--data-dir", "Folder of the Fashion-MNIST IDX files", &O::fashion_dir, {}, {}, false},
      {"rank_log",
       "--rank-log",
       "Debugging several ranks (MPI): each rank writes its rows, timesteps and example hashes of every step and its "
       "final parameter checksum to DIR/rank<R>.jsonl",
       &O::rank_log,
       {},
       {},
       false,
       false},
  };
}

// A value as messages show it (a list of prompts quoted and joined).
template <typename T>
std::string shown(const T& v) {
  if constexpr (std::is_same_v<T, std::vector<std::string>>)
    return fmt::format("\"{}\"", fmt::join(v, "\", \""));
  else
    return fmt::format("{}", v);
}

// What is wrong with the number `v` of option `name` ("" when nothing).
template <typename T>
std::string range_problem(const OptionRange& r, const char* name, T v) {
  const double x = static_cast<double>(v);
  if (r.rule == nullptr) return std::isfinite(x) ? "" : fmt::format("{} must be finite, got {}", name, v);
  const bool ok = std::isfinite(x) && (r.min_open ? x > r.min : x >= r.min) && (r.max_open ? x < r.max : x <= r.max);
  return ok ? "" : fmt::format("{} {}, got {}", name, r.rule, v);
}

}  // namespace

const std::vector<TrainOption>& train_option_table() {
  static const std::vector<TrainOption> table = make_table();
  return table;
}

const TrainOption& train_option(const std::string& name) {
  for (const TrainOption& row : train_option_table())
    if (name == row.name || (row.flag != nullptr && name == row.flag)) return row;
  throw Error("train_option", fmt::format("unknown training option '{}'", name));
}

std::string option_problem(const TrainOptions& o, const TrainOption& row, bool as_flag) {
  const char* name = as_flag && row.flag != nullptr ? row.flag : row.name;
  return std::visit(
      [&](auto member) -> std::string {
        using T = std::decay_t<decltype(o.*member)>;
        const T& value = o.*member;
        if constexpr (std::is_same_v<T, std::string>) {
          for (const std::string& c : row.choices)
            if (c == value) return "";
          if (row.choices.empty()) return "";
          return fmt::format("unknown {} '{}'; choose one of: {}", name, value, fmt::join(row.choices, ", "));
        } else if constexpr (std::is_same_v<T, bool>) {
          return "";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          const int64_t n = static_cast<int64_t>(value.size());
          return n <= kMaxValidationPrompts
                     ? ""
                     : fmt::format("{} takes at most {} prompts, got {}", name, kMaxValidationPrompts, n);
        } else {
          return range_problem(row.range, name, value);
        }
      },
      row.member);
}

void validate(const TrainOptions& o) {
  const char* op = "TrainOptions";
  TD_CHECK(!o.out_dir.empty(), op, "out_dir is empty; name the output folder");
  TD_CHECK(!o.dataset.empty(), op, "dataset is empty; choose one of: fashion, shapes");
  TD_CHECK(o.dataset != "folder" || !o.data.empty(), op, "the data set 'folder' needs a folder (data, --data DIR)");
  TD_CHECK(o.dataset == "folder" || o.data.empty(), op,
           fmt::format("data '{}' is a folder, but the data set is '{}'; use dataset 'folder'", o.data, o.dataset));
  TD_CHECK(o.channels != 2, op, "channels must be 0 (from the data), 1 or 3, got 2");
  for (const TrainOption& row : train_option_table()) {
    const std::string problem = option_problem(o, row);
    TD_CHECK(problem.empty(), op, problem);
  }
  TD_CHECK(o.keep_checkpoints == 0 || o.checkpoint_every > 0, op,
           fmt::format("keep_checkpoints {} needs checkpoints at an interval; give checkpoint_every > 0",
                       o.keep_checkpoints));
  TD_CHECK(o.steps > 0 || o.minutes > 0 || o.stop_after > 0, op,
           "no stopping point: give a number of steps or of minutes");
  TD_CHECK(o.lr_decay != "cosine" || o.steps > 0, op,
           "a cosine decay needs a number of steps to decay over; give steps or use lr_decay 'constant'");
  TD_CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0 && o.min_lr <= o.lr, op,
           fmt::format("min_lr must be in [0, lr = {}], got {}", o.lr, o.min_lr));
}

std::string resolved_lr_decay(const TrainOptions& o) {
  if (o.lr_decay != "auto") return o.lr_decay;
  return o.steps > 0 ? "cosine" : "constant";
}

std::string to_json(const TrainOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  for (const TrainOption& row : train_option_table())
    if (row.stored) std::visit([&](auto member) { j[row.name] = o.*member; }, row.member);
  return j.dump();
}

TrainOptions train_options_from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  TD_CHECK(!j.is_discarded() && j.is_object(), "train_options_from_json", "the train options are not a JSON object");
  TrainOptions o;
  for (const TrainOption& row : train_option_table()) {
    if (!row.stored || !j.contains(row.name)) continue;
    try {
      std::visit([&](auto member) { o.*member = j.at(row.name).get<std::decay_t<decltype(o.*member)>>(); }, row.member);
    } catch (const nlohmann::json::exception& e) {
      throw Error("train_options_from_json", fmt::format("mistyped field '{}': {}", row.name, e.what()));
    }
  }
  return o;
}

TrainOptions resumed_options(const TrainOptions& stored, const TrainOptions& given,
                             const std::function<bool(const TrainOption&)>& was_given, ResumeReport& report) {
  TrainOptions o = stored;
  for (const TrainOption& row : train_option_table()) {
    std::visit(
        [&](auto member) {
          if (!row.stored) {  // not part of the run: the folders, threads, stop_after, ...
            o.*member = given.*member;
            return;
          }
          if (row.flag == nullptr || !was_given(row) || given.*member == stored.*member) return;
          const std::string both = fmt::format("{} {} (was {})", row.flag, shown(given.*member), shown(stored.*member));
          switch (row.on_resume) {
            case OnResume::Kept: {
              const auto quoted = [](const auto& v) {
                if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
                  return fmt::format("'{}'", v);
                else
                  return shown(v);
              };
              throw Error("resume", fmt::format("the run was started with {} {}, not {}; drop {}, or use another "
                                                "--out for a new run",
                                                row.flag, quoted(stored.*member), quoted(given.*member), row.flag));
            }
            case OnResume::Ignored:
              report.ignored.push_back(
                  fmt::format("{} {} (the checkpoint's is {})", row.flag, shown(given.*member), shown(stored.*member)));
              return;
            case OnResume::Changed:
              report.changed.push_back(both);
              o.*member = given.*member;
              return;
            case OnResume::Updated:
              o.*member = given.*member;
              return;
          }
        },
        row.member);
  }
  // A step target given alone replaces the stored time budget rather than adding to it.
  const TrainOption& steps = train_option("steps");
  const TrainOption& minutes = train_option("minutes");
  if (was_given(steps) && !was_given(minutes)) o.minutes = 0.0;
  return o;
}

ModelConfig training_model_config(const TrainOptions& o, int64_t channels, int64_t data_size) {
  // The size: --image-size, else the data's, else the preset's largest (tiny 32, tiny64 64). A size the preset
  // takes gives the preset itself; another one given with --image-size scales the preset (with_image_size); the
  // data's own size must be one the preset takes (model_config says which config does).
  const std::vector<int64_t> sizes = model_config_image_sizes(o.config);
  const int64_t size = o.image_size > 0 ? o.image_size : data_size > 0 ? data_size : sizes.back();
  const bool preset = std::find(sizes.begin(), sizes.end(), size) != sizes.end();
  ModelConfig c = preset || o.image_size == 0 ? model_config(o.config, channels, size)
                                              : with_image_size(model_config(o.config, channels, sizes.front()), size);
  if (o.vocab_size > 0) {
    c.vocab_size = o.vocab_size;
    validate(c);
  }
  return c;
}

DataOptions data_options(const TrainOptions& o) {
  DataOptions d;
  d.flip = o.flip;
  d.fashion_dir = o.fashion_dir;
  if (o.dataset == "folder") {
    d.folder.dir = o.data;
    d.folder.prepare = {.size = training_model_config(o, 1).image_size,
                        .channels = o.channels,
                        .resize = parse_resize_mode(o.resize),
                        .background = parse_background(o.background)};
    d.folder.skip_bad = o.skip_bad;
    d.folder.cache_dir = (std::filesystem::path(cache_folder()) / "datasets").string();
  }
  return d;
}

Prediction training_prediction(const TrainOptions& o) { return parse_prediction(o.prediction); }

double min_snr_gamma(const TrainOptions& o) { return o.loss_weight == "min-snr" ? kMinSnrGamma : 0.0; }

}  // namespace tinydiff
