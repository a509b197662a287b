/// \file
/// \brief `Trainer`: trains the text encoder and the U-Net together, with EMA, warm-up, clipping, checkpoints
/// that resume exactly, a JSONL log, a progress display and sample grids.
///
/// One training step (Ho et al. 2020, Algorithm 1, with a text condition):
/// \f[ x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon, \qquad
///     L = \bigl\lVert \epsilon - \epsilon_\theta\bigl(x_t, t, \tau_\theta(y)\bigr) \bigr\rVert^2, \f]
/// or, with `TrainOptions::prediction` `x0` or `v`, the same with that target, optionally weighted per
/// timestep by min-SNR-\f$\gamma\f$ (`loss_weight`; objective.h); the prediction type is stored in the
/// checkpoint, and the sample grids and `tinydiff sample` use it.
/// with \f$t\f$ uniform, \f$\epsilon \sim \mathcal{N}(0, I)\f$, and the caption \f$y\f$ replaced by the empty
/// prompt with probability 0.1 so that the same network also learns the unconditional model used
/// by classifier-free guidance (Ho & Salimans 2022). Gradients of \f$\theta\f$ (text encoder and
/// U-Net: one graph, one AdamW) are clipped to a global norm of 1, the learning rate warms up
/// linearly for 200 steps and then follows a cosine (or stays constant), and an EMA of the weights
/// (decay 0.995) is kept for sampling. The noise schedule is DDPM's linear one, T = 1000.
///
/// **Exact resume.** Three Philox generators, derived from the seed, drive the randomness:
/// *data* (which images, caption wording), *noise* (timesteps and \f$\epsilon\f$) and *dropout*
/// (which captions are dropped). Their states go into every checkpoint with the weights, the EMA,
/// the AdamW moments and the step, so N steps in one run and N/2 steps + resume + N/2 steps give
/// bit-identical parameters, optimizer state and loss log (at the same thread count). The log is
/// cut back to the checkpoint's step on resume, so steps done after the last checkpoint of a
/// crashed run are not logged twice.
///
/// **Non-finite values.** A step whose loss or gradient norm is NaN or infinite is skipped (no
/// update, no EMA update) with a warning on stderr and counted; after `max_nonfinite` such steps
/// in a row training stops with a message naming the step, keeping the last checkpoint. A
/// checkpoint is never written from non-finite weights.
///
/// **Several processes (data parallel, MPI).** Under `mpirun -np N` (nn/distributed.h) every rank
/// builds the same model from the same seed, rank 0's parameters are broadcast before the first
/// step, and a check that every rank holds the same weights, EMA, AdamW moments, random streams
/// and step follows. Each step every rank draws the whole global batch of `batch` examples from
/// the shared streams, exactly as one process would (images, captions, dropped captions,
/// timesteps, noise), and trains on its contiguous shard of rows, `batch_shard(batch, rank, N)`;
/// the gradients are averaged with weights \f$b_r/B\f$ in one `MPI_Allreduce`, then clipping,
/// AdamW and the EMA run identically on every rank. So N ranks follow the single-process run up to
/// the summation order of the float gradients (the step calls one hook for all of this, `GradientSync`,
/// data_parallel.h), and the random streams (hence checkpoints) do not
/// depend on N: a checkpoint resumes on any number of ranks. The logged loss is the weighted mean
/// over the ranks; whether a step is skipped as non-finite, whether the time budget is spent and
/// whether a stop was requested (a signal to any rank) are all-reduced so every rank stops at the
/// same step. Only rank 0 writes the log, checkpoints and sample grids and prints progress; a
/// parameter checksum is compared across ranks at every checkpoint.
///
/// **Output folder** (`out_dir`):
///
///     checkpoint.safetensors   everything needed to sample and to resume (written atomically)
///     log.jsonl                one line per step: step, loss, lr, grad_norm, steps_per_s, elapsed
///     samples/step_NNNNNN.png  sample grids of the preview prompts from fixed noise, EMA weights
///     checkpoint-00001000.safetensors, ...   with `keep_checkpoints` N > 0: copies of the checkpoint
///                              of every `checkpoint_every`-th step, the last N kept (checkpoint_schema.h)
///
/// The preview prompts are `validation_prompts` when given (they are stored with the options, so
/// a resumed run keeps them), else the data set's `preview_prompts()`. The rolling checkpoint is
/// written before the step-numbered copy, so it is always the latest and `resume` reads it.
///
/// **Stopping.** `run()` stops at `steps` (total), after `minutes` of this run, after
/// `stop_after` steps of this run, after too many non-finite steps, or when the stop callback it is
/// given returns true (`tinydiff train` passes one that turns true on SIGINT/SIGTERM, apps/signals.h):
/// it then finishes the current step and saves a checkpoint. The sample grids are in preview.h.
///
/// Usage:
/// \code
///   TrainOptions opt;
///   opt.dataset = "fashion";
///   opt.out_dir = "runs/fashion";
///   opt.minutes = 5;
///   Trainer trainer(opt);            // builds the model (or resumes, with opt.resume)
///   TrainResult r = trainer.run();   // trains, logs, checkpoints, writes sample grids
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/data/dataset.h"
#include "diffusion/models/text_to_image.h"
#include "diffusion/models/tokenizer.h"
#include "diffusion/training/train_options.h"
#include "nn/ema.h"
#include "nn/optim.h"

namespace tinydiff {

/// The options stored in a checkpoint written by Trainer (validated), and its step in `step`
/// when not null. Throws Error when the file is unreadable or not a text-to-image checkpoint.
TrainOptions read_checkpoint_train_options(const std::string& path, int64_t* step = nullptr);

/// What one train_step did.
struct StepResult {
  int64_t step = 0;                ///< steps done after this one
  double loss = 0.0;               ///< the batch loss (may be non-finite when skipped)
  double grad_norm = 0.0;          ///< global gradient norm before clipping
  double lr = 0.0;                 ///< the learning rate of this step
  bool skipped = false;            ///< true when the loss or the norm was not finite (no update)
  double allreduce_seconds = 0.0;  ///< time in the gradient MPI_Allreduce (0 with one rank)
};

/// How a run ended.
struct TrainResult {
  int64_t step = 0;                       ///< steps done in total (earlier runs included)
  int64_t steps_this_run = 0;             ///< steps done by this run()
  bool interrupted = false;               ///< stopped by run()'s stop callback (SIGINT, SIGTERM)
  bool diverged = false;                  ///< stopped after max_nonfinite non-finite steps in a row
  int64_t nonfinite_steps = 0;            ///< skipped steps in total
  double seconds = 0.0;                   ///< wall time of this run()
  std::string message;                    ///< one line saying why training stopped
  int ranks = 1;                          ///< processes that trained together (MPI ranks)
  double allreduce_median_seconds = 0.0;  ///< median time per step in the gradient all-reduce (0 with one rank)
  double step_median_seconds = 0.0;       ///< median wall time of a training step in this run
  int64_t allreduce_bytes = 0;            ///< size of the all-reduced gradient buffer (0 with one rank)
};

/// Trains a TextToImageModel. See the file comment.
class Trainer {
 public:
  /// Builds the model, tokenizer, optimizer and EMA (or restores them from
  /// out_dir/checkpoint.safetensors when options.resume) and creates out_dir. `data` may be
  /// null, in which case it is made from options.dataset; when given, its name() must equal
  /// options.dataset. Throws Error for bad options, a missing or mismatched checkpoint (another
  /// config, data set or prediction type), a checkpoint in out_dir without `resume`, or an unwritable out_dir.
  explicit Trainer(TrainOptions options, std::unique_ptr<TrainingData> data = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains until a stop condition (see the file comment), logging, checkpointing and writing
  /// sample grids; saves a final checkpoint and grid (no grid when interrupted; neither after
  /// divergence). `stop`, when given, is polled before every step: true stops the run as
  /// interrupted (with several ranks, true on any rank stops them all).
  TrainResult run(const std::function<bool()>& stop = {});
  /// One training step (no logging, checkpointing or stop checks). It records its graph in any
  /// gradient mode, inside a NoGradGuard too (autograd/variable.h: EnableGradGuard). With several
  /// ranks every rank must call it (it makes collective MPI calls); the first call runs synchronize_ranks().
  StepResult train_step();
  /// With several ranks: broadcasts rank 0's parameters and checks that every rank holds the same
  /// training state (weights, EMA, AdamW moments, random streams, step), throwing Error if not.
  /// Collective; does nothing with one rank.
  void synchronize_ranks();
  /// Writes out_dir/checkpoint.safetensors atomically; throws Error (writing nothing) when any
  /// weight is not finite.
  void save_checkpoint();
  /// Copies the rolling checkpoint (just written by save_checkpoint at this step) to
  /// step_checkpoint_file(out_dir, step) (checkpoint_schema.h) through a temporary file and a rename,
  /// then deletes the oldest step-numbered checkpoints beyond options().keep_checkpoints. Returns the
  /// path. run() calls it after each checkpoint interval's save when keep_checkpoints > 0. Throws Error
  /// when the copy fails.
  std::string save_step_checkpoint();
  /// The prompts of the sample grids: options().validation_prompts, or the data set's
  /// preview_prompts() when there are none.
  std::vector<std::string> preview_prompts() const;
  /// The preview grid's images (prompt p's j-th sample at row j, column p), EMA weights, fixed noise,
  /// the model's prediction type (preview.h).
  Tensor preview_images();
  /// Writes the preview grid to out_dir/samples/step_NNNNNN.png and returns the path.
  std::string write_preview();

  /// Steps done so far.
  int64_t step() const;
  /// This process's rank (0 with one process).
  int rank() const;
  /// Number of ranks training together (world_size() when the trainer was made).
  int ranks() const;
  /// What the model predicts (options().prediction).
  Prediction prediction() const;
  /// The options in use (lr_decay resolved).
  const TrainOptions& options() const;
  /// The model being trained (training weights, not the EMA).
  TextToImageModel& model();
  /// The optimizer.
  const AdamW& optimizer() const;
  /// The EMA of the weights.
  const EMA& ema() const;
  /// The tokenizer (built from the data set's captions, or restored).
  const Tokenizer& tokenizer() const;
  /// The training data.
  const TrainingData& data() const;
  /// out_dir/checkpoint.safetensors
  std::string checkpoint_path() const;
  /// out_dir/log.jsonl
  std::string log_path() const;

 private:
  struct State;
  struct StepExamples;
  StepExamples draw_examples();  // this rank's rows of the next global batch, with t and noise
  std::unique_ptr<State> s_;
};

}  // namespace tinydiff
