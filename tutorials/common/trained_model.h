/// \file
/// \brief A trained text-to-image model for the tutorials 8, 9 and 10: trained by the program
/// itself for a few minutes, or reused from `--checkpoint FILE`.
///
/// Each of those tutorials needs a trained model, and each stays self-contained: in full mode
/// it trains its own (the "micro" config, tutorial_train_options()) with tinydiff::Trainer into
/// `<out>/run/`, then loads the checkpoint's EMA weights with tinydiff::load_trained_model();
/// given `--checkpoint FILE` it loads that file instead (which must be of the same data set)
/// and trains nothing. Either way the loss log `log.jsonl` beside the checkpoint, when there
/// is one, is read back for the loss curve.
///
/// Usage:
/// \code
///   const TutorialArgs args = parse_tutorial_args(argc, argv, "08_text_to_image", "...", true);
///   TutorialModel m = train_or_load(args, tutorial_train_options("fashion", args.quick, args.path("run")));
///   Tensor images = generate_images(*m.trained.model, *m.trained.tokenizer, m.trained.schedule, prompts, x_T, gen,
///   {});
/// \endcode
#pragma once

#include <string>
#include <vector>

#include "diffusion/models/generate.h"
#include "diffusion/models/trained_model.h"
#include "diffusion/training/trainer.h"
#include "tutorials/common/args.h"

namespace tinydiff::tutorial {

/// A model ready to sample, and how it came to be.
struct TutorialModel {
  TrainedModel trained;            ///< EMA weights, tokenizer and noise schedule (diffusion/models/trained_model.h)
  std::string checkpoint;          ///< the checkpoint file it was loaded from
  std::vector<double> log_steps;   ///< the step of each line of log.jsonl beside the checkpoint (empty: no log)
  std::vector<double> log_losses;  ///< the batch loss of each of those steps
  double train_seconds = 0.0;      ///< wall time of the training run (0 when loaded from --checkpoint)
  bool trained_now = false;        ///< true when this program trained it
};

/// The tutorials' training recipe for `dataset` ("fashion" or "shapes"): the "micro" config
/// (76 thousand parameters), batch 64, 1500 steps, learning rate 5e-3 with 200 warm-up steps and
/// cosine decay, EMA 0.995, caption dropout 0.1, seed 0, one checkpoint and one preview grid at
/// the end, progress as plain lines. `quick` shrinks it to 20 steps of batch 16 (a model that
/// has learnt nothing, for CI). `out_dir` is where the Trainer writes.
TrainOptions tutorial_train_options(const std::string& dataset, bool quick, const std::string& out_dir);

/// Trains with `options` (emptying options.out_dir first, so a rerun starts afresh) and loads
/// the result, or, when `args.checkpoint` is set, loads that checkpoint instead. Throws
/// ProgramError with kExitBadFile (tensor/program.h) when that checkpoint cannot be loaded, and
/// tinydiff::Error when it was trained on another data set than options.dataset.
TutorialModel train_or_load(const TutorialArgs& args, const TrainOptions& options);

/// Reads the (step, loss) pairs of a Trainer's log.jsonl; empty vectors when the file is missing.
void read_loss_log(const std::string& path, std::vector<double>& steps, std::vector<double>& losses);

}  // namespace tinydiff::tutorial
