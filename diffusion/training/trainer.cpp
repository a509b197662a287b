// The text-to-image trainer. See trainer.h.
#include "diffusion/training/trainer.h"

#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "diffusion/models/checkpoint_schema.h"
#include "diffusion/models/model_flops.h"
#include "diffusion/process/forward_process.h"
#include "diffusion/process/objective.h"
#include "diffusion/training/data_parallel.h"
#include "diffusion/training/preview.h"
#include "diffusion/training/train_report.h"
#include "nn/checkpoint.h"
#include "nn/clip.h"
#include "nn/distributed.h"
#include "nn/lr_schedule.h"
#include "tensor/format.h"
#include "tensor/process_env.h"

namespace tinydiff {

TrainOptions read_checkpoint_train_options(const std::string& path, int64_t* step) {
  const SafetensorsData data = load_safetensors(path);
  const char* op = "read_checkpoint_train_options";
  const ModelMetadata model = read_model_metadata(data.metadata, path, op);
  TrainOptions o = train_options_from_json(read_training_metadata(data.metadata, path, op).train_options);
  if (step != nullptr) *step = model.step;
  return o;
}

// ---------------------------------------------------------------------------------------------
// The trainer

namespace {

// splitmix64 (Steele, Lea & Flood 2014): independent-looking seeds for the streams of one seed.
uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
enum Stream : uint64_t { kInit = 0, kData = 1, kNoise = 2, kDropout = 3, kPreviewNoise = 4, kPreviewSampler = 5 };

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool all_weights_finite(const Module& model, const EMA& ema) {
  for (const auto& [name, p] : model.named_parameters())
    if (!all_finite(p.value())) return false;
  for (const auto& [name, t] : ema.state_tensors())
    if (!all_finite(t)) return false;
  return true;
}

// A folder's metadata_json() with how the tokenizer covers its captions ("" for the built-in sets).
std::string data_summary(const TrainingData& data, const Tokenizer& tokenizer, CaptionCoverage& coverage) {
  const std::string json = data.metadata_json();
  if (json.empty()) return "";
  coverage = caption_coverage(tokenizer, data.vocabulary_captions());
  nlohmann::json j = nlohmann::json::parse(json);
  j["vocabulary"] = tokenizer.vocab_size();
  j["distinct_words"] = coverage.distinct_words;
  j["caption_tokens"] = coverage.tokens;
  j["unk_tokens"] = coverage.unknown_tokens;
  j["truncated_captions"] = coverage.truncated_captions;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

struct Trainer::State {
  TrainOptions options;
  std::unique_ptr<TrainingData> data;
  ModelConfig config;
  std::optional<Tokenizer> tokenizer;
  NoiseSchedule schedule;
  std::unique_ptr<TextToImageModel> model;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<EMA> ema;
  Prediction prediction = Prediction::Epsilon;  // what the network learns to predict
  double min_snr_gamma = 0.0;                   // of diffusion_loss: 0 = unweighted
  Generator data_gen, noise_gen, dropout_gen;
  LrSchedule lr_schedule;
  int64_t step = 0;
  int64_t nonfinite_total = 0;
  double elapsed_before = 0.0;        // training seconds of earlier runs
  double elapsed_now = 0.0;           // training seconds including this run so far
  int rank = 0, ranks = 1;            // this process among the data-parallel ranks (nn/distributed.h)
  GradientSync sync;                  // shares each step among the ranks (data_parallel.h)
  bool synced = false;                // synchronize_ranks() has run
  std::unique_ptr<RankLog> rank_log;  // options.rank_log's file of this rank (data_parallel.h)
  std::string data_summary;           // the data's metadata_json() with the tokenizer's counts ("" built-in)
  CaptionCoverage coverage;           // of the data's captions by the tokenizer (folders only)
};

// This rank's examples of one step: its rows of the global batch with their timesteps and noise.
struct Trainer::StepExamples {
  Tensor x0;                          // (b, C, S, S) clean images
  Tensor t;                           // (b) int64 timesteps
  Tensor noise;                       // (b, C, S, S) epsilon
  std::vector<std::string> captions;  // b captions, "" where dropped
};

Trainer::Trainer(TrainOptions options, std::unique_ptr<TrainingData> data) : s_(std::make_unique<State>()) {
  State& s = *s_;
  validate(options);
  options.lr_decay = resolved_lr_decay(options);
  if (options.threads > 0) omp_set_num_threads(options.threads);
  s.options = options;
  s.rank = world_rank();
  s.ranks = world_size();
  s.sync = GradientSync(s.rank, s.ranks);
  s.prediction = training_prediction(options);
  s.min_snr_gamma = min_snr_gamma(options);
  TD_CHECK(options.batch >= s.ranks, "Trainer",
           fmt::format("batch {} is smaller than the number of ranks ({}); every rank needs at least one example "
                       "of each batch: give --batch {} or more, or use fewer ranks",
                       options.batch, s.ranks, s.ranks));
  const TrainOptions& o = s.options;

  if (data == nullptr) data = make_training_data(o.dataset, data_options(o));
  TD_CHECK(data->name() == o.dataset, "Trainer",
           fmt::format("the data set is '{}' but the options name '{}'", data->name(), o.dataset));
  s.data = std::move(data);
  s.config = training_model_config(o, s.data->image_channels(), s.data->image_size());  // follows the data
  TD_CHECK(s.config.image_size == s.data->image_size(), "Trainer",
           fmt::format("config '{}' makes {}x{} images but the data set has {}x{}", o.config, s.config.image_size,
                       s.config.image_size, s.data->image_size(), s.data->image_size()));
  s.tokenizer.emplace(Tokenizer::build(s.data->vocabulary_captions(),
                                       {.max_length = s.config.max_length, .max_vocab = s.config.vocab_size}));
  s.data_summary = data_summary(*s.data, *s.tokenizer, s.coverage);
  s.schedule = make_schedule(o.schedule, {.num_timesteps = o.num_timesteps});

  Generator init(derive_seed(o.seed, kInit));
  s.model = std::make_unique<TextToImageModel>(s.config, init, s.prediction);
  s.optimizer =
      std::make_unique<AdamW>(s.model->named_parameters(), AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  s.ema = std::make_unique<EMA>(s.model->named_parameters(), EMAOptions{.decay = o.ema_decay});
  s.data_gen = Generator(derive_seed(o.seed, kData));
  s.noise_gen = Generator(derive_seed(o.seed, kNoise));
  s.dropout_gen = Generator(derive_seed(o.seed, kDropout));
  s.lr_schedule = {.lr = o.lr,
                   .warmup_steps = o.warmup,
                   .total_steps = std::max(o.steps, o.warmup),
                   .min_lr = o.min_lr,
                   .decay = o.lr_decay == "cosine" ? LrDecay::Cosine : LrDecay::Constant};

  const std::string path = checkpoint_path();
  const bool exists = std::filesystem::exists(path);
  if (o.resume) {
    TD_CHECK(exists, "Trainer", fmt::format("there is no checkpoint to resume at '{}'", path));
    const ModelMetadata stored = read_model_metadata(load_safetensors(path).metadata, path, "Trainer");
    TD_CHECK(stored.dataset == o.dataset, "Trainer",
             fmt::format("{} was trained on '{}', not '{}'; resume with the same data set or use another folder", path,
                         stored.dataset, o.dataset));
    TD_CHECK(to_json(stored.config) == to_json(s.config), "Trainer",
             fmt::format("{} holds a model of config '{}', not '{}'; resume with the same config or use another folder",
                         path, stored.config.name, o.config));
    TD_CHECK(stored.schedule.name == o.schedule && stored.schedule.num_timesteps == o.num_timesteps, "Trainer",
             fmt::format("{} was trained with the noise schedule '{}' (T = {})", path, stored.schedule.name,
                         stored.schedule.num_timesteps));
    TD_CHECK(stored.prediction == s.prediction, "Trainer",
             fmt::format("{} holds a model that predicts {}, not {}; resume with the same prediction or use another "
                         "folder",
                         path, prediction_name(stored.prediction), prediction_name(s.prediction)));
    s.tokenizer.emplace(*stored.tokenizer);
    s.data_summary = data_summary(*s.data, *s.tokenizer, s.coverage);
    const TrainingMetadata state =
        read_training_metadata(load_checkpoint(path, *s.model, s.optimizer.get(), s.ema.get()), path, "Trainer");
    s.step = stored.step;
    s.data_gen.set_state(state.rng_data);
    s.noise_gen.set_state(state.rng_noise);
    s.dropout_gen.set_state(state.rng_dropout);
    s.nonfinite_total = state.nonfinite_steps;
    s.elapsed_before = state.elapsed_seconds;
  } else {
    TD_CHECK(!exists, "Trainer",
             fmt::format("'{}' already holds a checkpoint; resume it or choose another output folder", o.out_dir));
  }
  s.elapsed_now = s.elapsed_before;

  std::error_code ec;
  if (s.rank == 0) {  // only rank 0 writes there
    std::filesystem::create_directories(std::filesystem::path(o.out_dir) / "samples", ec);
    TD_CHECK(!ec, "Trainer", fmt::format("cannot create the output folder '{}': {}", o.out_dir, ec.message()));
  }
  if (!o.rank_log.empty()) s.rank_log = std::make_unique<RankLog>(o.rank_log, s.rank, s.ranks);
}

Trainer::~Trainer() = default;

int64_t Trainer::step() const { return s_->step; }
int Trainer::rank() const { return s_->rank; }
int Trainer::ranks() const { return s_->ranks; }
Prediction Trainer::prediction() const { return s_->prediction; }
const TrainOptions& Trainer::options() const { return s_->options; }
TextToImageModel& Trainer::model() { return *s_->model; }
const AdamW& Trainer::optimizer() const { return *s_->optimizer; }
const EMA& Trainer::ema() const { return *s_->ema; }
const Tokenizer& Trainer::tokenizer() const { return *s_->tokenizer; }
const TrainingData& Trainer::data() const { return *s_->data; }
std::string Trainer::checkpoint_path() const { return checkpoint_file(s_->options.out_dir); }
std::string Trainer::log_path() const { return (std::filesystem::path(s_->options.out_dir) / "log.jsonl").string(); }

void Trainer::synchronize_ranks() {
  State& s = *s_;
  s.synced = true;
  if (s.ranks == 1) return;
  broadcast_parameters(s.model->parameters(), 0);
  // Everything a step depends on must agree, or the ranks would drift apart (e.g. ranks that
  // resumed from different files). Weights: bit-identical after the broadcast.
  const std::string scalars = fmt::format("{} {} {} {} {}", s.step, format_generator_state(s.data_gen.state()),
                                          format_generator_state(s.noise_gen.state()),
                                          format_generator_state(s.dropout_gen.state()), to_json(s.options));
  const uint64_t sum =
      training_state_checksum(s.model->parameters(), s.optimizer->state_tensors(), s.ema->state_tensors(), scalars);
  TD_CHECK(all_ranks_equal(sum), "Trainer",
           fmt::format("the {} ranks do not hold the same training state (options, step, random streams, EMA or "
                       "AdamW moments) after start-up; every rank must read the same checkpoint and options",
                       s.ranks));
}

// Draws one step's examples. Every rank draws the whole global batch from the shared streams,
// exactly as a single process does, and keeps its shard of rows: N ranks see the same examples,
// timesteps and noise as one, and the streams' states do not depend on N. (Drawing a batch is
// cheap next to the step: see dataset.h.)
Trainer::StepExamples Trainer::draw_examples() {
  State& s = *s_;
  const int64_t B = s.options.batch;
  TrainingBatch batch = s.data->next_batch(s.data_gen, B);  // data stream: images, caption wording
  const int64_t C = s.config.image_channels, S = s.config.image_size;
  TD_CHECK(batch.images.shape() == Shape({B, C, S, S}) && static_cast<int64_t>(batch.captions.size()) == B,
           "Trainer::train_step",
           fmt::format("the data set gave images {} and {} captions; expected ({}, {}, {}, {}) and {}",
                       shape_str(batch.images.shape()), batch.captions.size(), B, C, S, S, B));
  const Tensor drop = condition_dropout_mask(s.dropout_gen, B, s.options.caption_dropout);  // (B): 1 = drop
  const float* dropped = drop.data<float>();
  for (int64_t i = 0; i < B; ++i)
    if (dropped[i] != 0.0f) batch.captions[static_cast<size_t>(i)].clear();
  const Tensor t_all = sample_timesteps(s.noise_gen, B, s.schedule.num_timesteps);  // (B) int64
  const Tensor noise_all = s.noise_gen.normal(batch.images.shape());                // (B, C, S, S)

  const BatchShard shard = s.sync.shard(B);  // this rank's rows (all of them with one rank)
  StepExamples e{
      .x0 = shard_rows(batch.images, shard),
      .t = shard_rows(t_all, shard),
      .noise = shard_rows(noise_all, shard),
      .captions = std::vector<std::string>(batch.captions.begin() + shard.begin, batch.captions.begin() + shard.end)};
  if (s.rank_log) s.rank_log->step(s.step + 1, shard, e.x0, e.noise, e.t, e.captions);
  return e;
}

StepResult Trainer::train_step() {
  // Record the graph even when the caller is inside a NoGradGuard (e.g. a program that samples
  // and evaluates under one trains a model on the way).
  EnableGradGuard enable_grad;
  State& s = *s_;
  if (!s.synced) synchronize_ranks();
  const StepExamples e = draw_examples();  // x0, t ~ U{0..T-1}, eps ~ N(0, I), captions: b rows

  const Tensor x_t = q_sample(e.x0, e.t, e.noise, s.schedule);            // (b, C, S, S)
  const Tokenizer::Batch tokens = s.tokenizer->encode_batch(e.captions);  // ids, mask: (b, L)
  s.optimizer->zero_grad();
  const Variable out = s.model->forward(Variable(x_t), e.t, tokens.ids, tokens.mask);  // (b, C, S, S)
  const Variable loss = diffusion_loss(out, e.x0, e.noise, e.t, s.schedule, s.prediction, s.min_snr_gamma);
  loss.backward();
  const std::vector<Variable> params = s.model->parameters();
  StepResult r;
  r.loss = s.sync.average(params, loss.item(), e.x0.size(0), s.options.batch);  // over the ranks
  r.allreduce_seconds = s.sync.last_seconds();
  r.grad_norm = s.options.grad_clip > 0 ? clip_grad_norm(params, s.options.grad_clip) : grad_norm(params);
  r.lr = scheduled_lr(s.lr_schedule, s.step);
  r.skipped = s.sync.any(!std::isfinite(r.loss) || !std::isfinite(r.grad_norm));  // every rank skips, or none
  if (!r.skipped) {
    s.optimizer->set_lr(r.lr);
    s.optimizer->step();
    s.ema->update();
  } else {
    ++s.nonfinite_total;
  }
  s.optimizer->zero_grad();
  r.step = ++s.step;
  return r;
}

void Trainer::save_checkpoint() {
  State& s = *s_;
  TD_CHECK(all_weights_finite(*s.model, *s.ema), "Trainer::save_checkpoint",
           fmt::format("the weights at step {} are not all finite; the checkpoint '{}' was not written", s.step,
                       checkpoint_path()));
  const ModelMetadata model{.config = s.config,
                            .tokenizer = *s.tokenizer,
                            .schedule = s.schedule,
                            .prediction = s.prediction,
                            .dataset = s.options.dataset,
                            .step = s.step,
                            .data = s.data_summary};
  const TrainingMetadata training{.train_options = to_json(s.options),
                                  .rng_data = s.data_gen.state(),
                                  .rng_noise = s.noise_gen.state(),
                                  .rng_dropout = s.dropout_gen.state(),
                                  .nonfinite_steps = s.nonfinite_total,
                                  .elapsed_seconds = s.elapsed_now,
                                  .parameter_count = s.model->parameter_count()};
  ::tinydiff::save_checkpoint(checkpoint_path(), *s.model, s.optimizer.get(), s.ema.get(),
                              checkpoint_metadata(model, training));
}

std::string Trainer::save_step_checkpoint() {
  State& s = *s_;
  const std::string rolling = checkpoint_path();
  const std::string path = step_checkpoint_file(s.options.out_dir, s.step);
  // A copy of the rolling checkpoint (just written at this step), through a temporary file and a
  // rename like every checkpoint, so a crash leaves no half-written file under the final name.
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  std::filesystem::copy_file(rolling, tmp, std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec) std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error("Trainer::save_step_checkpoint", fmt::format("cannot write '{}' from '{}'", path, rolling));
  }
  std::vector<std::pair<int64_t, std::string>> kept = step_checkpoint_files(s.options.out_dir);  // oldest first
  const size_t keep = static_cast<size_t>(std::max<int64_t>(s.options.keep_checkpoints, 0));
  for (size_t i = 0; i + keep < kept.size(); ++i) std::filesystem::remove(kept[i].second, ec);
  return path;
}

std::vector<std::string> Trainer::preview_prompts() const {
  const std::vector<std::string>& given = s_->options.validation_prompts;
  return given.empty() ? s_->data->preview_prompts() : given;
}

Tensor Trainer::preview_images() {
  State& s = *s_;
  const PreviewOptions p{.per_prompt = s.options.preview_per_prompt,
                         .steps = s.options.preview_steps,
                         .guidance = s.options.preview_guidance,
                         .noise_seed = derive_seed(s.options.seed, kPreviewNoise),
                         .sampler_seed = derive_seed(s.options.seed, kPreviewSampler)};
  EMASwapGuard use_ema(*s.ema);
  return ::tinydiff::preview_images(*s.model, *s.tokenizer, s.schedule, preview_prompts(), p);
}

std::string Trainer::write_preview() {
  const Tensor images = preview_images();  // (k P, C, S, S)
  const std::string path =
      (std::filesystem::path(s_->options.out_dir) / "samples" / fmt::format("step_{:06}.png", s_->step)).string();
  write_preview_grid(path, images, static_cast<int64_t>(preview_prompts().size()));
  return path;
}

TrainResult Trainer::run(const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  State& s = *s_;
  const TrainOptions& o = s.options;
  const auto run_start = Clock::now();
  const auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const bool root = s.rank == 0;  // only rank 0 prints, logs, checkpoints and samples
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  const bool bar = o.progress == ProgressStyle::Bar || (o.progress == ProgressStyle::Auto && tty);
  TrainProgress progress(root && o.progress != ProgressStyle::None, bar, o.steps, o.minutes * 60.0, s.step);
  std::optional<TrainLog> log;
  if (root) log.emplace(log_path(), s.step > 0 ? s.step : -1);  // resumed: drop lines after the checkpoint

  const int64_t params = s.model->parameter_count();
  progress.message(fmt::format(
      "tinydiff: config '{}' ({}x{}, {} channel{}), {} parameters (text encoder {}, U-Net {}), {:.1f} "
      "GFLOP per training step; data '{}'; vocabulary {} words",
      o.config, s.config.image_size, s.config.image_size, s.config.image_channels,
      s.config.image_channels == 1 ? "" : "s", group_thousands(params),
      group_thousands(s.model->text_encoder.parameter_count()), group_thousands(s.model->unet.parameter_count()),
      training_step_flops(s.config, o.batch) / 1e9, o.dataset, s.tokenizer->vocab_size()));
  progress.message(fmt::format(
      "batch {}, AdamW lr {} (warm-up {}, {}), EMA {}, caption dropout {}, clip {}, {} thread{}; output in {}", o.batch,
      o.lr, o.warmup, o.lr_decay == "cosine" ? fmt::format("cosine to step {}", o.steps) : "then constant", o.ema_decay,
      o.caption_dropout, o.grad_clip, omp_get_max_threads(), omp_get_max_threads() == 1 ? "" : "s", o.out_dir));
  if (!s.data_summary.empty()) {
    for (const std::string& line : s.data->describe()) {
      if (line.rfind("warning: ", 0) != 0)
        progress.message(line);
      else if (root)  // warnings go to stderr whatever the progress style
        std::fputs(("tinydiff: " + line + "\n").c_str(), stderr);
    }
    const CaptionCoverage& cov = s.coverage;
    progress.message(fmt::format(
        "vocabulary: {} of {} distinct words (--vocab-size {}, most frequent first); {} of {} caption tokens are <unk> "
        "({:.1f}%); {} captions longer than {} words are truncated",
        s.tokenizer->vocab_size() - 3, cov.distinct_words, s.config.vocab_size, cov.unknown_tokens, cov.tokens,
        cov.tokens > 0 ? 100.0 * static_cast<double>(cov.unknown_tokens) / static_cast<double>(cov.tokens) : 0.0,
        cov.truncated_captions, s.tokenizer->max_length() - 1));
  }
  progress.message("compute: " + compute_summary());
  if (s.ranks > 1)
    progress.message(fmt::format("data parallel: {} ranks (MPI), {} to {} examples of each batch per rank", s.ranks,
                                 o.batch / s.ranks, (o.batch + s.ranks - 1) / s.ranks));
  if (o.resume) progress.message(fmt::format("resuming from step {} ({})", s.step, checkpoint_path()));
  if (!o.validation_prompts.empty())
    progress.message(fmt::format("sample grids of {} validation prompt{}: \"{}\"", o.validation_prompts.size(),
                                 o.validation_prompts.size() == 1 ? "" : "s",
                                 fmt::join(o.validation_prompts, "\", \"")));
  if (o.keep_checkpoints > 0)
    progress.message(fmt::format("keeping the last {} step-numbered checkpoint{} (every {} steps)", o.keep_checkpoints,
                                 o.keep_checkpoints == 1 ? "" : "s", o.checkpoint_every));

  TrainResult result;
  result.ranks = s.ranks;
  double step_time_avg = 0.0;
  std::vector<double> step_times, allreduce_times;
  int64_t nonfinite_in_row = 0, last_saved = o.resume ? s.step : -1, last_preview = -1;
  const auto stop_reason = [&](bool time_up) -> std::string {
    if (o.steps > 0 && s.step >= o.steps) return fmt::format("reached step {}", o.steps);
    if (time_up) return fmt::format("used the time budget of {} minutes", o.minutes);
    if (o.stop_after > 0 && result.steps_this_run >= o.stop_after)
      return fmt::format("did the {} steps asked for this run", o.stop_after);
    return "";
  };
  // A checkpoint (rank 0) at the same steps on every rank, after checking they still agree.
  const auto save_checkpoint_of_all_ranks = [&] {
    if (s.ranks > 1)
      TD_CHECK(all_ranks_equal(parameter_checksum(s.model->parameters())), "Trainer::run",
               fmt::format("the weights of the {} ranks differ at step {}: the gradient all-reduce gave them "
                           "different results; stopping without a checkpoint",
                           s.ranks, s.step));
    if (root) save_checkpoint();
  };
  std::string reason;
  for (;;) {
    // The wall clock and signals differ between ranks: agree on them, so every rank stops at the
    // same step (a signal to any one rank stops them all).
    bool time_up = o.minutes > 0 && seconds_since(run_start) >= o.minutes * 60.0;
    bool interrupt = stop && stop();
    if (s.ranks > 1) {
      const std::vector<double> any = all_reduce_sum({time_up ? 1.0 : 0.0, interrupt ? 1.0 : 0.0});
      time_up = any[0] > 0;
      interrupt = any[1] > 0;
    }
    if (!(reason = stop_reason(time_up)).empty()) break;
    if (interrupt) {
      result.interrupted = true;
      reason = "interrupted";
      break;
    }
    const auto t0 = Clock::now();
    const StepResult r = train_step();
    const double dt = seconds_since(t0);
    ++result.steps_this_run;
    step_times.push_back(dt);
    if (s.ranks > 1) allreduce_times.push_back(r.allreduce_seconds);
    step_time_avg = step_time_avg == 0.0 ? dt : 0.9 * step_time_avg + 0.1 * dt;
    s.elapsed_now += dt;
    const double rate = step_time_avg > 0 ? 1.0 / step_time_avg : 0.0;
    if (log) log->append({r.step, r.loss, r.lr, r.grad_norm, rate, s.elapsed_now, r.skipped});
    if (r.skipped) {
      ++nonfinite_in_row;
      if (root)
        std::fputs(
            fmt::format("tinydiff: warning: step {}: non-finite {} ({}); update skipped ({} in a row, {} in all)\n",
                        r.step, std::isfinite(r.loss) ? "gradient norm" : "loss",
                        std::isfinite(r.loss) ? r.grad_norm : r.loss, nonfinite_in_row, s.nonfinite_total)
                .c_str(),
            stderr);
      if (nonfinite_in_row >= o.max_nonfinite) {
        result.diverged = true;
        reason = fmt::format(
            "stopped at step {}: {} non-finite steps in a row; the last checkpoint{} is kept; try a lower lr", r.step,
            nonfinite_in_row, last_saved >= 0 ? fmt::format(" (step {})", last_saved) : std::string());
        break;
      }
    } else {
      nonfinite_in_row = 0;
    }
    progress.update(r.step, r.loss, rate, s.elapsed_now, seconds_since(run_start));
    if (o.checkpoint_every > 0 && s.step % o.checkpoint_every == 0) {
      save_checkpoint_of_all_ranks();
      if (root && o.keep_checkpoints > 0) save_step_checkpoint();  // after the rolling one: it is always the latest
      last_saved = s.step;
    }
    if (root && o.sample_every > 0 && s.step % o.sample_every == 0) {
      progress.message("samples: " + write_preview());
      last_preview = s.step;
    }
  }

  if (!result.diverged) {
    if (last_saved != s.step) save_checkpoint_of_all_ranks();
    if (root && !result.interrupted && last_preview != s.step && result.steps_this_run > 0)
      progress.message("samples: " + write_preview());
  }
  result.step_median_seconds = median(step_times);
  if (s.ranks > 1 && !allreduce_times.empty()) {
    result.allreduce_median_seconds = median(allreduce_times);
    result.allreduce_bytes = s.sync.bytes();
    progress.message(fmt::format(
        "all-reduce: median {:.2f} ms per step ({:.1f}% of the median step of {:.1f} ms), {:.2f} MB of gradients",
        1e3 * result.allreduce_median_seconds, 100.0 * result.allreduce_median_seconds / result.step_median_seconds,
        1e3 * result.step_median_seconds, result.allreduce_bytes / 1e6));
  }
  if (s.rank_log) s.rank_log->end(s.step, parameter_checksum(s.model->parameters()));
  if (result.steps_this_run > 0) progress.finish();
  result.step = s.step;
  result.nonfinite_steps = s.nonfinite_total;
  result.seconds = seconds_since(run_start);
  result.message = result.interrupted ? fmt::format("interrupted at step {}; checkpoint saved", s.step) : reason;
  return result;
}

}  // namespace tinydiff
