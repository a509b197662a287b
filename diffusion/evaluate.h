/// \file
/// \brief Built-in evaluation of text-to-image checkpoints: prompt accuracy and a feature-space Fréchet distance on
/// Fashion-MNIST, attribute accuracy on seen and held-out Shapes pairs, over a sweep of guidance scales.
///
/// **Fashion-MNIST.** For each class prompt "a photo of a {class}" (captions.h) the model draws
/// `samples` images (DDIM with `steps` steps, guidance \f$w\f$). A classifier trained by tinydiff
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
/// model (e.g. with ground-truth images); `evaluate_checkpoint` plugs in a trained model.
///
/// Usage:
/// \code
///   EvalOptions opt;
///   opt.guidance = parse_guidance_list("0,1,3,5");
///   EvalReport r = evaluate_checkpoint("runs/fashion/checkpoint.safetensors", opt);
///   fmt::print("{}", eval_table(r));
///   write_file_atomic("eval.json", eval_json(r));
/// \endcode
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/fashion_classifier.h"
#include "diffusion/generate.h"
#include "diffusion/shapes_detector.h"

namespace tinydiff {

/// Parses a comma-separated list of guidance scales ("0,1,3,5", spaces allowed around the
/// numbers). Throws Error("--guidance", ...) naming the offending item for an empty list or
/// item, text that is not a number, a negative, NaN or infinite scale.
std::vector<double> parse_guidance_list(const std::string& text);

/// Makes one image per prompt from the noise `x_T` (N, C, S, S) with guidance scale `guidance`;
/// returns (N, C, S, S) in [-1, 1].
using PromptSampler =
    std::function<Tensor(const std::vector<std::string>& prompts, double guidance, const Tensor& x_T)>;

/// What to evaluate and how.
struct EvalOptions {
  int64_t samples = 50;                  ///< images per Fashion-MNIST class prompt, or per Shapes (shape, colour) pair
  int64_t steps = 50;                    ///< DDIM steps
  std::vector<double> guidance = {3.0};  ///< the guidance scales of the sweep
  uint64_t seed = 0;                     ///< seeds the noise (and the Shapes sizes and positions)
  int64_t batch = 64;                    ///< images per sampler call
  int64_t real_images = 2000;            ///< Fashion-MNIST test images of the Fréchet reference
  int64_t baseline_images = 500;         ///< Fashion-MNIST training images of the real-vs-real baseline
  std::string classifier_path;           ///< the classifier cache ("" : default_classifier_path())
  FashionClassifierTrainOptions classifier_training;  ///< how to train the classifier when it is not cached
  std::string fashion_dir = kFashionMnistDir;         ///< where the Fashion-MNIST files are
  std::function<void(const std::string&)> log;        ///< progress lines (may be empty)
};

/// Throws Error naming the first option out of range (samples, steps, batch, image counts, guidance).
void validate(const EvalOptions& options);

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

/// Scores `sampler` on the Fashion-MNIST class prompts against `real_test` (N, 1, 32, 32) test
/// images; `baseline` (M, 1, 32, 32) real training images give the real-vs-real row (skipped
/// when undefined). Images are drawn in chunks of options.batch.
FashionEvalResult evaluate_fashion(const PromptSampler& sampler, const FashionClassifier& classifier,
                                   const Tensor& real_test, const Tensor& baseline, const EvalOptions& options);

/// Scores `sampler` on the Shapes prompts (shapes_eval_prompts(options.samples, options.seed)).
/// `channels` and `size` give the shape of the noise (3 and 32 for Shapes models).
ShapesEvalResult evaluate_shapes(const PromptSampler& sampler, const EvalOptions& options, int64_t channels = 3,
                                 int64_t size = 32);

/// Everything `tinydiff eval` reports.
struct EvalReport {
  std::string checkpoint;                    ///< the evaluated file
  std::string dataset;                       ///< "fashion" or "shapes"
  int64_t train_steps = 0;                   ///< training steps of the checkpoint
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

/// load_trained_model(path) (EMA weights), then evaluate_model. Throws Error for an unreadable
/// checkpoint too.
EvalReport evaluate_checkpoint(const std::string& path, const EvalOptions& options);

/// The report as an aligned text table (several lines, ending with a newline).
std::string eval_table(const EvalReport& report);

/// The report as a JSON object (settings, classifier, baseline and one entry per guidance scale).
std::string eval_json(const EvalReport& report);

}  // namespace tinydiff
