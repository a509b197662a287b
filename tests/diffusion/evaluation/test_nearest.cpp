// The memorisation check (nearest.h): the GEMM nearest-neighbour search against the naive double
// loop, streamed in chunks or at once, with a query's own row excluded; and the check on a small
// stored set with a sampler that copies training images (distance 0 to the copy) or not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "diffusion/evaluation/nearest.h"
#include "tensor/error.h"

using namespace tinydiff;

namespace {

// Eight 1x8x8 images: image i is constant (i - 3.5) / 4 plus a fixed pattern, each with its own caption.
class TinySet : public TrainingData {
 public:
  TinySet() {
    Generator gen(3);
    images_ = (gen.uniform({8, 1, 8, 8}, -0.2, 0.2));  // (8, 1, 8, 8)
    for (int64_t i = 0; i < 8; ++i)
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 8; ++x)
          images_.set({i, 0, y, x}, images_.at({i, 0, y, x}) + (static_cast<double>(i) - 3.5) / 4.0);
  }
  std::string name() const override { return "tiny-set"; }
  int64_t image_channels() const override { return 1; }
  int64_t image_size() const override { return 8; }
  TrainingBatch next_batch(Generator&, int64_t) const override { throw Error("TinySet", "not used"); }
  std::vector<std::string> vocabulary_captions() const override { return captions(); }
  std::vector<std::string> preview_prompts() const override { return captions(); }
  int64_t example_count() const override { return 8; }
  TrainingBatch examples(int64_t begin, int64_t count) const override {
    const std::vector<std::string> all = captions();
    return {images_.slice(0, begin, begin + count).contiguous(),
            std::vector<std::string>(all.begin() + begin, all.begin() + begin + count)};
  }
  static std::vector<std::string> captions() { return {"a", "b", "c", "d", "e", "f", "g", "h"}; }
  const Tensor& images() const { return images_; }

 private:
  Tensor images_;
};

}  // namespace

TEST_CASE("the GEMM nearest-neighbour search finds what the naive double loop finds", "[evaluation][nearest]") {
  Generator gen(5);
  const Tensor reference = gen.normal({300, 3, 4, 4});  // (N, C, S, S): rows of 48 values
  const Tensor queries = gen.normal({7, 3, 4, 4});      // (Q, C, S, S)
  for (int64_t k : {1, 3, 10}) {
    INFO("k = " << k);
    const Neighbours fast = nearest_neighbours(queries, reference, k);
    const Neighbours naive = nearest_neighbours_naive(queries, reference, k);
    CHECK(fast.index.shape() == (Shape{7, k}));
    CHECK(fast.index.to_vector() == naive.index.to_vector());
    // ||a||^2 + ||b||^2 - 2 a.b in float64 vs the sum of squared differences: a few ulps of ~100.
    CHECK(max_abs_diff(fast.distance, naive.distance) < 1e-10);
    // Streamed in uneven chunks: the same.
    NearestNeighbourSearch search(queries, k);
    for (int64_t begin : {0, 100, 101, 250}) {
      const int64_t end = begin == 0 ? 100 : begin == 100 ? 101 : begin == 101 ? 250 : 300;
      search.add(reference.slice(0, begin, end), begin);
    }
    CHECK(search.result().index.to_vector() == naive.index.to_vector());
  }
  // Float32 input gives the same neighbours (the search works in float64).
  CHECK(nearest_neighbours(queries.to(DType::F32), reference.to(DType::F32), 3).index.to_vector() ==
        nearest_neighbours_naive(queries, reference, 3).index.to_vector());
}

TEST_CASE("the nearest-neighbour search skips each query's excluded row", "[evaluation][nearest]") {
  Generator gen(6);
  const Tensor reference = gen.normal({50, 10});  // (N, D)
  const Tensor rows = Tensor::from_indices({4, 17, 33}, {3});
  const Tensor queries = index_select(reference, 0, rows);  // (3, D): rows of the reference itself
  const Neighbours with_self = nearest_neighbours(queries, reference, 2);
  CHECK(with_self.index.to_vector()[0] == 4);  // itself, at distance 0
  CHECK(with_self.distance.to_vector()[0] == 0.0);
  const Neighbours fast = nearest_neighbours(queries, reference, 2, rows);
  const Neighbours naive = nearest_neighbours_naive(queries, reference, 2, rows);
  CHECK(fast.index.to_vector() == naive.index.to_vector());
  for (double i : fast.index.to_vector()) CHECK((i != 4 && i != 17 && i != 33));
  CHECK(max_abs_diff(fast.distance, naive.distance) < 1e-10);
  CHECK_THROWS_WITH(nearest_neighbours(queries, reference, 0), Catch::Contains("k must be at least 1"));
  CHECK_THROWS_WITH(nearest_neighbours(queries, gen.normal({5, 9}), 1), Catch::Contains("9 values, the queries 10"));
}

TEST_CASE("the memorisation check finds a copied training image at distance 0 and sets the scale",
          "[evaluation][nearest]") {
  const TinySet data;
  // A sampler that "memorised": for caption c it returns training image c exactly.
  const PromptSampler copier = [&](const std::vector<std::string>& prompts, double, const Tensor& x_T, int64_t) {
    std::vector<Tensor> out;
    for (const std::string& p : prompts) out.push_back(data.examples(p[0] - 'a', 1).images);  // (1, 1, 8, 8)
    CHECK(x_T.shape() == (Shape{static_cast<int64_t>(prompts.size()), 1, 8, 8}));
    return concat(out, 0);
  };
  NearestCheckOptions o;
  o.captions = 5;
  o.chunk = 3;  // several GEMMs over the 8 images
  const NearestCheck c = nearest_check(data, copier, 2.0, o);
  REQUIRE(c.rows.size() == 5);
  CHECK(c.reference_images == 8);
  CHECK_FALSE(c.drawn);
  CHECK(c.generated.shape() == (Shape{5, 1, 8, 8}));
  CHECK(c.neighbour_images.shape() == (Shape{5, 3, 1, 8, 8}));
  const Tensor all = data.images().reshape({8, 64});  // (8, 64)
  for (const NearestRow& r : c.rows) {
    INFO(r.caption);
    const int64_t source = r.caption[0] - 'a';
    CHECK(r.index[0] == source);  // the copy is its nearest training image
    CHECK(r.distance[0] == Approx(0.0).margin(1e-9));
    CHECK(r.neighbour_caption[0] == r.caption);
    // The other neighbours as the naive loop finds them.
    const Neighbours naive = nearest_neighbours_naive(all.slice(0, source, source + 1), all, 3);
    for (int j = 0; j < 3; ++j) {
      CHECK(r.index[static_cast<size_t>(j)] == naive.index.to_vector()[static_cast<size_t>(j)]);
      CHECK(r.distance[static_cast<size_t>(j)] ==
            Approx(naive.distance.to_vector()[static_cast<size_t>(j)]).epsilon(1e-9));
    }
  }
  // The scale: the median over all 8 images (scale_images 500 > 8) of the distance to the nearest other.
  const Neighbours others = nearest_neighbours_naive(all, all, 1, Tensor::from_indices({0, 1, 2, 3, 4, 5, 6, 7}, {8}));
  std::vector<double> d = others.distance.to_vector();
  std::sort(d.begin(), d.end());
  CHECK(c.scale_images == 8);
  CHECK(c.median_training_distance == Approx(0.5 * (d[3] + d[4])).epsilon(1e-9));
  CHECK(c.median_training_distance > 0.5);  // neighbours differ by 0.25 per pixel: about 2 over 64 pixels
  // The grid: 5 rows of 4 cells, and the JSON holds the numbers.
  const Tensor grid = nearest_grid(c);
  CHECK(grid.shape() == (Shape{1, 5 * 8 + 6 * 2, 4 * 8 + 5 * 2}));
  const nlohmann::json j = nlohmann::json::parse(nearest_json(c));
  CHECK(j.at("rows").size() == 5);
  CHECK(j.at("rows")[0].at("neighbours").size() == 3);
  CHECK(j.at("median_training_distance").get<double>() == Approx(c.median_training_distance));
  CHECK(nearest_table(c).find("scale: median distance") != std::string::npos);
  // Captions are distinct, and a sampler that does not copy is far from its caption's image.
  std::vector<std::string> seen;
  for (const NearestRow& r : c.rows) seen.push_back(r.caption);
  std::sort(seen.begin(), seen.end());
  CHECK(std::unique(seen.begin(), seen.end()) == seen.end());
  const PromptSampler noise = [](const std::vector<std::string>&, double, const Tensor& x_T, int64_t) { return x_T; };
  const NearestCheck n = nearest_check(data, noise, 2.0, o);
  for (const NearestRow& r : n.rows) CHECK(r.distance[0] > c.median_training_distance);
}
