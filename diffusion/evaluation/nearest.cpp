// The memorisation check: nearest training images of samples. See nearest.h.
#include "diffusion/evaluation/nearest.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "diffusion/data/image_io.h"
#include "tensor/dispatch.h"
#include "tensor/linalg.h"

namespace tinydiff {

namespace {

constexpr const char* kOp = "nearest_neighbours";

// x: (N, ...) -> (N, D) float64, contiguous.
Tensor rows_f64(const Tensor& x) {
  TD_CHECK(x.dim() >= 1, kOp, fmt::format("expected rows (N, ...), got {}", shape_str(x.shape())));
  const int64_t n = x.size(0);
  const int64_t d = n > 0 ? x.numel() / n : 0;
  return x.contiguous().reshape({n, d}).to(DType::F64).contiguous();  // (N, D)
}

// Inserts (d2, index) into the ascending list of query q's k best, ties keeping the lower index.
void insert_best(double* d2s, int64_t* idx, int64_t k, double d2, int64_t index) {
  if (!(d2 < d2s[k - 1] || (d2 == d2s[k - 1] && index < idx[k - 1]))) return;
  int64_t p = k - 1;
  while (p > 0 && (d2 < d2s[p - 1] || (d2 == d2s[p - 1] && index < idx[p - 1]))) {
    d2s[p] = d2s[p - 1];
    idx[p] = idx[p - 1];
    --p;
  }
  d2s[p] = d2;
  idx[p] = index;
}

Neighbours make_result(const std::vector<double>& d2, const std::vector<int64_t>& index, int64_t q, int64_t k) {
  std::vector<double> dist(d2.size());
  for (size_t i = 0; i < d2.size(); ++i) dist[i] = std::sqrt(d2[i]);
  return {Tensor::from_indices(index, {q, k}), Tensor::from_vector(dist, {q, k}, DType::F64)};
}

std::vector<int64_t> exclude_list(const Tensor& exclude, int64_t q) {
  if (!exclude.defined()) return {};
  TD_CHECK(exclude.dim() == 1 && exclude.size(0) == q && exclude.dtype() == DType::I64, kOp,
           fmt::format("expected exclude (Q) int64 with Q = {}, got {} {}", q, dtype_name(exclude.dtype()),
                       shape_str(exclude.shape())));
  const Tensor e = exclude.contiguous();
  return std::vector<int64_t>(e.data<int64_t>(), e.data<int64_t>() + q);
}

}  // namespace

NearestNeighbourSearch::NearestNeighbourSearch(const Tensor& queries, int64_t k, const Tensor& exclude)
    : queries_(rows_f64(queries)), k_(k) {
  TD_CHECK(k >= 1, kOp, fmt::format("k must be at least 1, got {}", k));
  const int64_t q = queries_.size(0), d = queries_.size(1);
  exclude_ = exclude_list(exclude, q);
  const double* a = queries_.data<double>();
  query_sq_.assign(static_cast<size_t>(q), 0.0);
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < d; ++j) query_sq_[static_cast<size_t>(i)] += a[i * d + j] * a[i * d + j];
  best_d2_.assign(static_cast<size_t>(q * k), std::numeric_limits<double>::infinity());
  best_index_.assign(static_cast<size_t>(q * k), -1);
}

void NearestNeighbourSearch::add(const Tensor& reference, int64_t first_index) {
  const Tensor b = rows_f64(reference);  // (n, D)
  const int64_t q = queries_.size(0), d = queries_.size(1), n = b.size(0);
  if (n == 0 || q == 0) return;
  TD_CHECK(b.size(1) == d, kOp,
           fmt::format("reference rows have {} values, the queries {}: {} vs {}", b.size(1), d,
                       shape_str(reference.shape()), shape_str(queries_.shape())));
  // dot: (Q, n) = A B^T, one GEMM.
  Tensor dot = Tensor::empty({q, n}, DType::F64);
  gemm<double>(false, true, q, n, d, 1.0, queries_.data<double>(), d, b.data<double>(), d, 0.0, dot.data<double>(), n);
  const double* bp = b.data<double>();
  std::vector<double> ref_sq(static_cast<size_t>(n), 0.0);
  parallel_for(n, d, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += bp[r * d + j] * bp[r * d + j];
      ref_sq[static_cast<size_t>(r)] = s;
    }
  });
  const double* dp = dot.data<double>();
  parallel_for(q, n, [&](int64_t lo, int64_t hi) {  // each query's list written by one thread
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t skip = exclude_.empty() ? -1 : exclude_[static_cast<size_t>(i)];
      for (int64_t r = 0; r < n; ++r) {
        if (first_index + r == skip) continue;
        // ||a||^2 + ||b||^2 - 2 a.b, clamped at 0 against rounding.
        const double d2 =
            std::max(0.0, query_sq_[static_cast<size_t>(i)] + ref_sq[static_cast<size_t>(r)] - 2.0 * dp[i * n + r]);
        insert_best(best_d2_.data() + i * k_, best_index_.data() + i * k_, k_, d2, first_index + r);
      }
    }
  });
}

Neighbours NearestNeighbourSearch::result() const { return make_result(best_d2_, best_index_, queries_.size(0), k_); }

Neighbours nearest_neighbours(const Tensor& queries, const Tensor& reference, int64_t k, const Tensor& exclude) {
  NearestNeighbourSearch search(queries, k, exclude);
  search.add(reference, 0);
  return search.result();
}

Neighbours nearest_neighbours_naive(const Tensor& queries, const Tensor& reference, int64_t k, const Tensor& exclude) {
  TD_CHECK(k >= 1, kOp, fmt::format("k must be at least 1, got {}", k));
  const Tensor a = rows_f64(queries), b = rows_f64(reference);  // (Q, D), (N, D)
  const int64_t q = a.size(0), d = a.size(1), n = b.size(0);
  TD_CHECK(n == 0 || b.size(1) == d, kOp, fmt::format("reference rows have {} values, the queries {}", b.size(1), d));
  const std::vector<int64_t> skip = exclude_list(exclude, q);
  std::vector<double> best(static_cast<size_t>(q * k), std::numeric_limits<double>::infinity());
  std::vector<int64_t> index(static_cast<size_t>(q * k), -1);
  const double *ap = a.data<double>(), *bp = b.data<double>();
  for (int64_t i = 0; i < q; ++i)
    for (int64_t r = 0; r < n; ++r) {
      if (!skip.empty() && skip[static_cast<size_t>(i)] == r) continue;
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += (ap[i * d + j] - bp[r * d + j]) * (ap[i * d + j] - bp[r * d + j]);
      insert_best(best.data() + i * k, index.data() + i * k, k, s, r);
    }
  return make_result(best, index, q, k);
}

// ---------------------------------------------------------------------------------------------
// The check

NearestCheck nearest_check(const TrainingData& data, const PromptSampler& sampler, double guidance,
                           const NearestCheckOptions& o) {
  const char* op = "nearest_check";
  TD_CHECK(o.captions >= 1 && o.neighbours >= 1 && o.scale_images >= 1 && o.drawn_reference >= 2 && o.chunk >= 1, op,
           fmt::format("captions, neighbours, scale_images and chunk must be at least 1 and drawn_reference at "
                       "least 2, got {}, {}, {}, {} and {}",
                       o.captions, o.neighbours, o.scale_images, o.chunk, o.drawn_reference));
  const int64_t C = data.image_channels(), S = data.image_size();
  NearestCheck out;
  out.dataset = data.name();
  out.guidance = guidance;
  // The reference set: the stored examples, or images drawn once from the seed.
  TrainingBatch drawn;
  out.drawn = data.example_count() == 0;
  if (out.drawn) {
    Generator gen(o.seed + 1);
    drawn = data.next_batch(gen, o.drawn_reference);  // images: (R, C, S, S)
  }
  const int64_t N = out.drawn ? o.drawn_reference : data.example_count();
  TD_CHECK(N >= 2, op, fmt::format("the data set '{}' has {} example(s); the check needs at least 2", data.name(), N));
  out.reference_images = N;
  const auto examples = [&](int64_t begin, int64_t count) -> TrainingBatch {
    if (!out.drawn) return data.examples(begin, count);
    return {drawn.images.slice(0, begin, begin + count).contiguous(),
            std::vector<std::string>(drawn.captions.begin() + begin, drawn.captions.begin() + begin + count)};
  };

  // The captions: those of the examples in a seeded random order, each once.
  Generator pick(o.seed);
  const Tensor order = pick.randperm(N);  // (N) int64
  const int64_t* ord = order.data<int64_t>();
  std::vector<std::string> captions;
  std::set<std::string> seen;
  std::vector<int64_t> scale_rows;  // the first scale_images of the order
  for (int64_t i = 0; i < N; ++i) {
    const int64_t r = ord[i];
    if (static_cast<int64_t>(scale_rows.size()) < std::min(o.scale_images, N)) scale_rows.push_back(r);
    if (static_cast<int64_t>(captions.size()) < o.captions) {
      const std::string c = examples(r, 1).captions.front();
      if (seen.insert(c).second) captions.push_back(c);
    }
    if (static_cast<int64_t>(captions.size()) >= o.captions &&
        static_cast<int64_t>(scale_rows.size()) >= std::min(o.scale_images, N))
      break;
  }
  const int64_t K = static_cast<int64_t>(captions.size());

  // The samples, from noise of the seed.
  Generator noise(o.seed + 2);
  const Tensor x_T = noise.normal({K, C, S, S});  // (K, C, S, S)
  out.generated = sampler(captions, guidance, x_T, 0);
  TD_CHECK(out.generated.shape() == (Shape{K, C, S, S}), op,
           fmt::format("the sampler gave {}, expected ({}, {}, {}, {})", shape_str(out.generated.shape()), K, C, S, S));

  // The scale: each of scale_rows against every other training image.
  std::vector<Tensor> scale_images;
  for (int64_t r : scale_rows) scale_images.push_back(examples(r, 1).images);  // (1, C, S, S) each
  NearestNeighbourSearch scale(concat(scale_images, 0), 1,
                               Tensor::from_indices(scale_rows, {static_cast<int64_t>(scale_rows.size())}));
  NearestNeighbourSearch nearest(out.generated, o.neighbours);
  for (  // one pass over all N training images in chunks, one GEMM per search and chunk
      int64_t begin = 0; begin < N; begin += o.chunk) {
    const Tensor chunk = examples(begin, std::min(o.chunk, N - begin)).images;  // (n, C, S, S)
    scale.add(chunk, begin);
    nearest.add(chunk, begin);
  }
  const std::vector<double> scale_d = scale.result().distance.to_vector();
  std::vector<double> sorted = scale_d;
  std::sort(sorted.begin(), sorted.end());
  const size_t m = sorted.size();
  out.median_training_distance = m % 2 == 1 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
  out.scale_images = static_cast<int64_t>(m);

  const Neighbours nb = nearest.result();
  const int64_t k = std::min(o.neighbours, N);
  std::vector<Tensor> images;
  for (int64_t i = 0; i < K; ++i) {
    NearestRow row;
    row.caption = captions[static_cast<size_t>(i)];
    for (int64_t j = 0; j < k; ++j) {
      const int64_t idx = nb.index.data<int64_t>()[i * o.neighbours + j];
      const TrainingBatch e = examples(idx, 1);
      row.index.push_back(idx);
      row.distance.push_back(nb.distance.data<double>()[i * o.neighbours + j]);
      row.neighbour_caption.push_back(e.captions.front());
      images.push_back(e.images);  // (1, C, S, S)
    }
    out.rows.push_back(std::move(row));
  }
  out.neighbour_images = concat(images, 0).reshape({K, k, C, S, S});  // (K, k, C, S, S)
  return out;
}

NearestCheck nearest_check(const TrainingData& data, const TrainedModel& m, const EvalOptions& eval,
                           const NearestCheckOptions& options) {
  validate(eval);
  TD_CHECK(eval.guidance.size() == 1, "nearest_check",
           fmt::format("the check takes one guidance scale, got {}", eval.guidance.size()));
  TD_CHECK(m.config.image_channels == data.image_channels() && m.config.image_size == data.image_size(),
           "nearest_check",
           fmt::format("the model makes ({}, {}, {}) images but the data set '{}' has ({}, {}, {})",
                       m.config.image_channels, m.config.image_size, m.config.image_size, data.name(),
                       data.image_channels(), data.image_size(), data.image_size()));
  GenerateOptions g;
  g.sampler = image_sampler_options(eval.sampler, eval.steps, eval.eta, eval.sigmas);
  if (eval.on_step) set_step_callback(g.sampler, eval.on_step);
  g.batch = eval.batch;
  const PromptSampler sampler = [&](const std::vector<std::string>& prompts, double w, const Tensor& x_T, int64_t) {
    GenerateOptions o = g;
    o.guidance = w;
    Generator gen(eval.seed);
    return generate_images(*m.model, *m.tokenizer, m.schedule, prompts, x_T, gen, o);
  };
  return nearest_check(data, sampler, eval.guidance[0], options);
}

Tensor nearest_grid(const NearestCheck& c) {
  const int64_t K = c.generated.size(0), k = c.neighbour_images.size(1);
  std::vector<Tensor> cells;  // row i: generated i, then its k neighbours
  for (int64_t i = 0; i < K; ++i) {
    cells.push_back(c.generated.slice(0, i, i + 1));                                 // (1, C, S, S)
    cells.push_back(c.neighbour_images.slice(0, i, i + 1).squeeze(0).contiguous());  // (k, C, S, S)
  }
  return make_grid(concat(cells, 0), 1 + k);  // (C, H, W)
}

std::string nearest_table(const NearestCheck& c) {
  std::string s = fmt::format(
      "memorisation check: {} samples of training captions (guidance {}), nearest of {} {}training images\n",
      c.rows.size(), c.guidance, c.reference_images, c.drawn ? "drawn " : "");
  for (const NearestRow& r : c.rows) {
    std::vector<std::string> parts;
    for (size_t j = 0; j < r.distance.size(); ++j)
      parts.push_back(fmt::format("{:.2f} (#{})", r.distance[j], r.index[j]));
    s += fmt::format("  {:<40} {}\n", "\"" + r.caption + "\"", fmt::join(parts, "  "));
  }
  s += fmt::format("scale: median distance of a training image to its nearest other: {:.2f} (over {} images)\n",
                   c.median_training_distance, c.scale_images);
  return s;
}

std::string nearest_json(const NearestCheck& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (const NearestRow& r : c.rows) {
    nlohmann::json nb = nlohmann::json::array();
    for (size_t j = 0; j < r.index.size(); ++j)
      nb.push_back({{"index", r.index[j]}, {"distance", r.distance[j]}, {"caption", r.neighbour_caption[j]}});
    rows.push_back({{"caption", r.caption}, {"neighbours", nb}});
  }
  nlohmann::json j = {{"dataset", c.dataset},
                      {"guidance", c.guidance},
                      {"reference_images", c.reference_images},
                      {"drawn", c.drawn},
                      {"scale_images", c.scale_images},
                      {"median_training_distance", c.median_training_distance},
                      {"rows", rows}};
  return j.dump(2);
}

}  // namespace tinydiff
