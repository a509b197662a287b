/// \file
/// \brief Built-in evaluation of text-to-image checkpoints: prompt accuracy and a feature-space Fréchet distance on
/// Fashion-MNIST, attribute accuracy on seen and held-out Shapes pairs, over a sweep of guidance scales.
///
/// **Fashion-MNIST.** For each class prompt "a photo of a {class}" (captions.h) the model draws
/// `samples` images (DDIM with `steps` steps by default, or DDPM; guidance \f$w\f$). A classifier trained by tinydiff
/// on the real training set (fashion_classifier.h) then gives
/// - *prompt accuracy*: the fraction of samples it assigns to the prompted class, overall and per class;
/// - a *Fréchet distance* (frechet.h) between the samples and `real_images` real test images
///   (the first ones of the test set) in the classifier's 128-d feature space — an FID without Inception.
///
/// Distances depend on the feature space, so the report gives two anchors for scale: the
/// real-vs-real baseline, `baseline_images` real *training* images against the same test
/// images (a set of the samples' size, so its small-sample bias is comparable), and uniform
/// noise images, as many as the samples, against them.
///
/// **Shapes.** For each of the 21 (shape, colour) pairs, `samples` prompts in the main caption
/// template "a {size} {colour} {shape} {position}" (shapes.h), size and position drawn at
/// random from the seed. The 18 pairs seen in training and the 3 held-out pairs (green
/// triangle, yellow circle, magenta square) are scored separately by the exact detector
/// (shapes_detector.h): the fraction of samples with the right shape, colour, size, position
/// and all four.
///
/// Every guidance scale of the sweep starts from the same noise \f$x_T\f$, so rows differ only by
/// \f$w\f$. The result prints as a table (`eval_table`) and saves as JSON (`eval_json`).
///
/// The image source is a `PromptSampler`, so the scoring pipeline can be tested without a
/// model (e.g. with ground-truth images); `evaluate_checkpoint` plugs in a trained model, and
/// `evaluate_images` (evaluate_images.cpp) a folder of PNG images made by another program, so
/// that a peer model is scored by the same judge, prompts and reference sets.
///
/// **Image folders.** `eval_prompts(dataset, options)` is the exact prompt list of an evaluation
/// (`tinydiff eval --dataset D --samples N --seed K --print-prompts` prints it). A folder holds
/// that list as `prompts.txt` (one prompt a line) and image i of it as `%06d.png`
/// (000000.png, 000001.png, ...): 32x32 8-bit grayscale for Fashion-MNIST, RGB for Shapes.
///
/// Usage:
/// \code
///   EvalOptions opt;
///   opt.guidance = parse_guidance_list("0,1,3,5");
///   EvalReport r = evaluate_checkpoint("runs/fashion/checkpoint.safetensors", opt);
///   fmt::print("{}", eval_table(r));
///   write_file_atomic("eval.json", eval_json(r));
///
///   EvalOptions peer;                    // a folder made at guidance 3 for these prompts:
///   peer.samples = 20;                   //   eval_prompts("shapes", peer)
///   EvalReport p = evaluate_images("peer/shapes", "shapes", peer);
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/evaluation/fashion_classifier.h"
#include "diffusion/evaluation/shapes_detector.h"
#include "diffusion/models/generate.h"
#include "diffusion/models/trained_model.h"

namespace tinydiff {

/// Parses a comma-separated list of guidance scales ("0,1,3,5", spaces allowed around the
/// numbers). Throws Error("--guidance", ...) naming the offending item for an empty list or
/// item, text that is not a number, a negative, NaN or infinite scale.
std::vector<double> parse_guidance_list(const std::string& text);

/// Makes one image per prompt from the noise `x_T` (N, C, S, S) with guidance scale `guidance`;
/// returns (N, C, S, S) in [-1, 1]. `chunk` is the index of this chunk of EvalOptions::batch images
/// in the evaluation's prompt list (0, 1, ...; the same for every guidance scale), so a sampler that
/// needs noise of its own can draw it from a stream that depends only on the seed and the chunk.
using PromptSampler =
    std::function<Tensor(const std::vector<std::string>& prompts, double guidance, const Tensor& x_T, int64_t chunk)>;

/// What to evaluate and how.
struct EvalOptions {
  int64_t samples = 50;  ///< images per Fashion-MNIST class prompt, or per Shapes (shape, colour) pair
  int64_t steps = 50;    ///< sampler steps (DDPM ignores them and takes all T; Heun: 2 steps - 1 NFE)
  SamplerKind sampler = SamplerKind::Ddim;     ///< the sampler (names parsed at the edge: parse_sampler_kind)
  SigmaSpacing sigmas = SigmaSpacing::Karras;  ///< noise levels of Euler, Euler ancestral, Heun, DPM-Solver++(2M)
  double eta = 0.0;                      ///< DDIM \f$\eta\f$ in [0, 1] (0: deterministic); must be 0 for the others
  std::vector<double> guidance = {3.0};  ///< the guidance scales of the sweep
  uint64_t seed = 0;                     ///< seeds the noise (and the Shapes sizes and positions)
  int64_t batch = 64;                    ///< images per sampler call
  int64_t real_images = 2000;            ///< Fashion-MNIST test images of the Fréchet reference
  int64_t baseline_images = 500;         ///< Fashion-MNIST training images of the real-vs-real baseline
  std::string classifier_path;           ///< the classifier cache ("" : default_classifier_path())
  FashionClassifierTrainOptions classifier_training;  ///< how to train the classifier when it is not cached
  std::string fashion_dir = kFashionMnistDir;         ///< where the Fashion-MNIST files are
  std::function<void(const std::string&)> log;        ///< progress lines (may be empty)
  StepCallback on_step;  ///< called at every sampler step of every chunk (a progress bar; may be empty)
};

/// Throws Error naming the first option out of range (samples, steps, batch, image counts, guidance,
/// sampler, eta).
void validate(const EvalOptions& options);

/// How the images are sampled, for tables and logs: "DDIM 50 steps", "DDIM 50 steps, eta 0.5",
/// "DDPM (all 1000 steps)" (DDPM ignores `steps`; "all T steps" when `num_timesteps` is 0, unknown),
/// "Euler 20 steps", "Euler ancestral 20 steps", "Heun 10 steps (19 evaluations)", "DPM-Solver++(2M) 15 steps";
/// the four ODE samplers add ", uniform sigmas" when `sigmas` is Uniform (Karras's is the default).
std::string eval_sampler_label(const EvalOptions& options, int64_t num_timesteps = 0);

/// The exact prompt list an evaluation of `dataset` ("fashion" or "shapes") uses, in image order:
/// Fashion-MNIST, options.samples copies of each class prompt in label order; Shapes,
/// shapes_eval_prompts(options.samples, options.seed + 1).prompts. Throws Error for another data
/// set or invalid options.
std::vector<std::string> eval_prompts(const std::string& dataset, const EvalOptions& options);

/// The file name of image `index` in an image folder: 6-digit zero-padded, "000000.png", "000001.png", ...
std::string eval_image_name(int64_t index);

/// One guidance scale's Fashion-MNIST scores.
struct FashionEvalRow {
  double guidance = 0.0;               ///< \f$w\f$
  double prompt_accuracy = 0.0;        ///< fraction of samples classified as the prompted class
  std::vector<double> class_accuracy;  ///< the same per class (10 values, label order)
  double frechet = 0.0;                ///< Fréchet distance to the real test images' features
  int64_t samples = 0;                 ///< images scored
  double seconds = 0.0;                ///< wall time of sampling and scoring
};

/// Fashion-MNIST evaluation results.
struct FashionEvalResult {
  std::vector<FashionEvalRow> rows;    ///< one per guidance scale, in the given order
  FashionClassifierReport classifier;  ///< the judge's own test accuracy and provenance
  std::string classifier_path;         ///< where it was cached
  double baseline_frechet = 0.0;       ///< real training images vs the real test images
  double noise_frechet = 0.0;          ///< uniform noise images (as many as the samples) vs the real test images
  int64_t real_images = 0;             ///< test images of the reference set
  int64_t baseline_images = 0;         ///< training images of the baseline
};

/// One guidance scale's Shapes scores.
struct ShapesEvalRow {
  double guidance = 0.0;  ///< \f$w\f$
  ShapeScores seen;       ///< samples of pairs seen in training
  ShapeScores held_out;   ///< samples of held-out pairs
  double seconds = 0.0;   ///< wall time of sampling and scoring
};

/// Shapes evaluation results.
struct ShapesEvalResult {
  std::vector<ShapesEvalRow> rows;  ///< one per guidance scale, in the given order
};

/// The Shapes evaluation prompts: `per_pair` per (shape, colour) pair (pairs in shape-major
/// order), with the intended attributes.
struct ShapesEvalPrompts {
  std::vector<std::string> prompts;    ///< main-template captions
  std::vector<ShapeAttributes> truth;  ///< the attributes each prompt asks for
};

/// Builds the Shapes prompts; sizes and positions are drawn uniformly from a Generator seeded with `seed`.
ShapesEvalPrompts shapes_eval_prompts(int64_t per_pair, uint64_t seed);

/// Scores `sampler` on the Fashion-MNIST class prompts (eval_prompts("fashion", options)) against
/// `real_test` (N, 1, 32, 32) test images; `baseline` (M, 1, 32, 32) real training images give
/// the real-vs-real row (skipped when undefined). Images are drawn in chunks of options.batch.
/// `source` says where the images come from in the progress lines (empty: eval_sampler_label(options)).
FashionEvalResult evaluate_fashion(const PromptSampler& sampler, const FashionClassifier& classifier,
                                   const Tensor& real_test, const Tensor& baseline, const EvalOptions& options,
                                   const std::string& source = {});

/// evaluate_fashion with the standard judge and references: the classifier loaded from
/// options.classifier_path (default_classifier_path() when empty) or trained and cached there,
/// the first options.real_images test images and options.baseline_images training images from
/// options.fashion_dir. The result records the classifier's report and path.
FashionEvalResult evaluate_fashion_standard(const PromptSampler& sampler, const EvalOptions& options,
                                            const std::string& source = {});

/// Scores `sampler` on the Shapes prompts (eval_prompts("shapes", options), i.e.
/// shapes_eval_prompts(options.samples, options.seed + 1)). `channels` and `size` give the shape
/// of the noise (3 and 32 for Shapes models). `source` as for evaluate_fashion.
ShapesEvalResult evaluate_shapes(const PromptSampler& sampler, const EvalOptions& options, int64_t channels = 3,
                                 int64_t size = 32, const std::string& source = {});

/// Everything `tinydiff eval` reports.
struct EvalReport {
  std::string checkpoint;                    ///< the evaluated file (empty for an image folder)
  std::string images_dir;                    ///< the evaluated image folder (empty for a checkpoint)
  int64_t image_count = 0;                   ///< images in the folder (0 for a checkpoint)
  std::string dataset;                       ///< "fashion" or "shapes"
  int64_t train_steps = 0;                   ///< training steps of the checkpoint
  int64_t num_timesteps = 0;                 ///< the checkpoint's T (0 for an image folder)
  EvalOptions options;                       ///< the settings used
  std::optional<FashionEvalResult> fashion;  ///< set for Fashion-MNIST checkpoints
  std::optional<ShapesEvalResult> shapes;    ///< set for Shapes checkpoints
};

/// True for the data sets with an evaluation: "fashion" and "shapes".
bool has_evaluation(const std::string& dataset);

/// Evaluates a model loaded from the checkpoint `path` (see generate.h) according to its data
/// set. Fashion-MNIST needs the classifier, which is loaded from options.classifier_path or
/// trained and cached there (see load_or_train_fashion_classifier). Throws Error for a data set
/// without an evaluation or a model whose images do not fit it.
EvalReport evaluate_model(const TrainedModel& model, const std::string& path, const EvalOptions& options);

/// The PromptSampler evaluate_model uses: generate_images with image_sampler_options(options.sampler,
/// options.steps, options.eta, options.sigmas) and options.on_step, the model's prediction type, guidance \f$w\f$
/// and options.batch. The sampler's own noise (DDPM, Euler ancestral, DDIM with eta > 0) depends only on options.seed
/// and the chunk index: chunk c draws from the stream of options.seed at block offset \f$(c + 1)\,2^{40}\f$, so chunk c
/// of every guidance scale of a sweep gets the same noise, however often the sampler is called. `m` must outlive the
/// sampler. Throws Error for invalid options or a data set without an evaluation.
PromptSampler model_sampler(const TrainedModel& m, const EvalOptions& options);

/// load_trained_model(path) (EMA weights), then evaluate_model. Throws Error for an unreadable
/// checkpoint too.
EvalReport evaluate_checkpoint(const std::string& path, const EvalOptions& options);

/// Scores the images of folder `dir` (see the file overview) for `dataset` exactly as a
/// checkpoint's samples would be scored (same prompts, judge and references). Checks first that
/// `dir/prompts.txt` equals eval_prompts(dataset, options) line by line ("\r\n" line ends are
/// accepted; Error naming the first differing line and how to write the right list), then
/// loads every image `dir/`eval_image_name(i) (Error naming a missing or unreadable file or an
/// image not (1, 32, 32) for fashion, (3, 32, 32) for shapes) before scoring anything.
/// options.guidance must hold exactly one value, recorded as the scale the images were made
/// with; options.steps, sampler and eta do not apply. Error ops: "evaluate_images" for the
/// folder and its list, "load_png" for an image file.
EvalReport evaluate_images(const std::string& dir, const std::string& dataset, const EvalOptions& options);

/// The report as an aligned text table (several lines, ending with a newline). The first line names
/// the checkpoint, or the image folder ("images DIR (N images, ...)").
std::string eval_table(const EvalReport& report);

/// The report as a JSON object (settings, classifier, baseline and one entry per guidance scale).
/// A checkpoint's report has "checkpoint" and "train_steps", its settings "sampler", "eta" and
/// "steps" (all T for DDPM); an image folder's has "images": DIR and "image_count", with
/// "checkpoint", "train_steps" and the settings "sampler", "eta", "steps" null.
std::string eval_json(const EvalReport& report);

}  // namespace tinydiff
