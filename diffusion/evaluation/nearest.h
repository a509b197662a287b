/// \file
/// \brief The memorisation check: samples of training captions beside their nearest training images, with the
/// distances and the typical distance between training images as the scale to read them against.
///
/// A small model trained long on a small data set can learn to reproduce its training images
/// instead of a distribution. The check shows it: for `captions` training captions the model draws
/// one image each, and the search finds the `neighbours` (3) training images nearest to it in pixel
/// space, by the Euclidean distance over all \f$D = C\,S\,S\f$ values in \f$[-1, 1]\f$,
/// \f[ d(a, b) = \lVert a - b \rVert_2 = \sqrt{\lVert a \rVert^2 + \lVert b \rVert^2 - 2\,a \cdot b}. \f]
/// The right-hand form turns the search over all N training images into one matrix product
/// \f$A B^\top\f$ per chunk of the training set (`gemm`, in float64 so that the difference of
/// large squares keeps its digits), plus the squared norms; `nearest_neighbours_naive` is the
/// double loop over \f$(a_i - b_j)^2\f$ kept beside it as the test oracle.
///
/// A distance means little alone. The scale is the **median nearest-neighbour distance between
/// training images**: for `scale_images` training images, the distance to the nearest *other*
/// training image, and the median of those. A sample much closer to a training image than that is
/// probably a copy of it; samples at about the scale are as far from the set as its own members are
/// from each other.
///
/// The training images come from `TrainingData::examples()` (dataset.h) in chunks, every one of
/// them; a set drawn on the fly (Shapes, `example_count()` 0) is represented by `drawn_reference`
/// images drawn from a generator seeded with the check's seed. The captions are those of the
/// examples met first in a seeded random order, each caption once.
///
/// Usage:
/// \code
///   auto data = make_training_data("fashion");
///   NearestCheckOptions o;                                  // 8 captions, 3 neighbours
///   NearestCheck r = nearest_check(*data, load_trained_model(path), EvalOptions{}, o);
///   save_png("nearest.png", enlarge(nearest_grid(r), 2));   // generated | nearest 1 | 2 | 3
///   std::puts(nearest_table(r).c_str());
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/data/dataset.h"
#include "diffusion/evaluation/evaluate.h"
#include "tensor/tensor.h"

namespace tinydiff {

/// The k nearest reference rows of each query row.
struct Neighbours {
  Tensor index;     ///< (Q, k) int64: reference row indices, nearest first
  Tensor distance;  ///< (Q, k) float64: their Euclidean distances, ascending
};

/// Streams reference rows past a fixed set of queries, keeping each query's k nearest. Ties keep the
/// lower index. Rows are flattened images (or any vectors) of D values.
class NearestNeighbourSearch {
 public:
  /// `queries` (Q, D) any float dtype; `k` >= 1; `exclude` (Q) int64, when defined: the reference
  /// index each query must not match (itself, when the queries are reference rows), -1 for none.
  NearestNeighbourSearch(const Tensor& queries, int64_t k, const Tensor& exclude = Tensor());
  /// Compares every query with `reference` (n, D), whose row r has the global index first_index + r.
  void add(const Tensor& reference, int64_t first_index);
  /// The k nearest rows seen so far (index -1 and distance +inf where fewer than k were seen).
  Neighbours result() const;

 private:
  Tensor queries_;                // (Q, D) float64
  std::vector<double> query_sq_;  // ||a_i||^2
  std::vector<int64_t> exclude_;  // (Q) or empty
  int64_t k_;
  std::vector<double> best_d2_;      // (Q, k) squared distances, ascending
  std::vector<int64_t> best_index_;  // (Q, k)
};

/// The k nearest rows of `reference` (N, D) to each row of `queries` (Q, D), by one GEMM (see the
/// file comment); `exclude` as for NearestNeighbourSearch. Throws Error for mismatched widths or k < 1.
Neighbours nearest_neighbours(const Tensor& queries, const Tensor& reference, int64_t k,
                              const Tensor& exclude = Tensor());

/// The same by the double loop over \f$\sum_j (a_j - b_j)^2\f$ in float64: the reference for tests.
Neighbours nearest_neighbours_naive(const Tensor& queries, const Tensor& reference, int64_t k,
                                    const Tensor& exclude = Tensor());

/// How the memorisation check runs.
struct NearestCheckOptions {
  int64_t captions = 8;             ///< training captions to draw an image for (rows of the grid)
  int64_t neighbours = 3;           ///< nearest training images per sample (columns after the first)
  int64_t scale_images = 500;       ///< training images whose nearest other training image sets the scale
  int64_t drawn_reference = 10000;  ///< images drawn to stand for a set drawn on the fly (Shapes)
  int64_t chunk = 2048;             ///< training images per GEMM
  uint64_t seed = 0;                ///< seeds the caption choice, the noise and a drawn reference set
};

/// One sample of the check.
struct NearestRow {
  std::string caption;                         ///< the training caption it was drawn for
  std::vector<int64_t> index;                  ///< its nearest training images, nearest first
  std::vector<double> distance;                ///< their distances
  std::vector<std::string> neighbour_caption;  ///< their captions
};

/// The result of nearest_check.
struct NearestCheck {
  std::string dataset;                    ///< the data set's name
  std::vector<NearestRow> rows;           ///< one per caption
  Tensor generated;                       ///< (K, C, S, S) the samples, in [-1, 1]
  Tensor neighbour_images;                ///< (K, n, C, S, S) their nearest training images
  double median_training_distance = 0.0;  ///< the scale: median distance of a training image to its nearest other
  int64_t scale_images = 0;               ///< training images that median is over
  int64_t reference_images = 0;           ///< training images searched
  bool drawn = false;                     ///< the reference set was drawn (a set drawn on the fly)
  double guidance = 0.0;                  ///< the guidance scale of the samples
};

/// Runs the check on `data` with images from `sampler` at `guidance` (the sampler gets the
/// captions, noise \f$x_T\f$ drawn from options.seed and chunk 0). Throws Error for a set with fewer
/// than 2 examples or options out of range.
NearestCheck nearest_check(const TrainingData& data, const PromptSampler& sampler, double guidance,
                           const NearestCheckOptions& options);

/// nearest_check with samples of the trained model `m`: generate_images with eval's sampler, steps,
/// eta and batch, guidance eval.guidance[0] (exactly one value), the noise of the sampler drawn from
/// eval.seed. Works for any data set, with or without an evaluation of its own.
NearestCheck nearest_check(const TrainingData& data, const TrainedModel& m, const EvalOptions& eval,
                           const NearestCheckOptions& options);

/// The grid as one image (C, H, W): a row per caption, the sample then its nearest training images.
Tensor nearest_grid(const NearestCheck& check);

/// A text table: per caption the distances to its neighbours, then the scale.
std::string nearest_table(const NearestCheck& check);

/// The result as a JSON object: dataset, guidance, reference_images, drawn, scale_images,
/// median_training_distance, and rows of {caption, neighbours: [{index, distance, caption}]}.
std::string nearest_json(const NearestCheck& check);

}  // namespace tinydiff
