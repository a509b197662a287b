// Tests of the Shapes attribute detector: it reads back every generated combination, ignores
// dim blotches, and scores batches attribute by attribute.
#include <catch2/catch.hpp>
#include <vector>

#include "diffusion/data/shapes.h"
#include "diffusion/evaluation/shapes_detector.h"

using namespace tinydiff;

TEST_CASE("the detector reads back every attribute combination of generated images", "[shapes][detector][slow]") {
  Generator gen(2);
  const auto all = all_shape_attributes();
  REQUIRE(all.size() == 378);
  int64_t correct = 0;
  std::vector<ShapeAttributes> wrong;
  for (int rep = 0; rep < 2; ++rep) {
    for (const auto& a : all) {
      const DetectedShape d = detect_shape(render_shape(a, gen));
      if (d.found && d.attributes == a)
        ++correct;
      else
        wrong.push_back(a);
    }
  }
  INFO("first wrong: shape " << (wrong.empty() ? -1 : wrong[0].shape) << " colour "
                             << (wrong.empty() ? -1 : wrong[0].colour) << " size "
                             << (wrong.empty() ? -1 : wrong[0].size) << " position "
                             << (wrong.empty() ? -1 : wrong[0].position));
  // The detector must score ground truth at (or very near) 100%.
  CHECK(correct >= static_cast<int64_t>(2 * all.size()) - 2);
}

TEST_CASE("the detector ignores dim background blotches and scores batches", "[shapes][detector]") {
  Generator gen(3);
  ShapeAttributes a{2, 5, 1, 4};  // large cyan triangle in the center
  Tensor img = render_shape(a, gen);
  // Dim blotches (0.25 on a 0..1 scale, below the brightness threshold) in a corner and a
  // small bright speck elsewhere: the largest bright blob is still the triangle.
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 4; ++x) img.set({0, y, x}, -0.5);
  img.set({1, 31, 31}, 1.0);
  const DetectedShape d = detect_shape(img);
  REQUIRE(d.found);
  CHECK(d.attributes == a);

  ShapesBatch b = sample_shapes(gen, 16, false);
  ShapeScores s = score_shapes(b.images, b.attributes);
  CHECK(s.count == 16);
  CHECK(s.all == Approx(1.0));
  // A wrong truth record lowers exactly its attribute's score.
  auto truth = b.attributes;
  truth[0].colour = (truth[0].colour + 1) % 7;
  s = score_shapes(b.images, truth);
  CHECK(s.colour == Approx(15.0 / 16));
  CHECK(s.shape == Approx(1.0));
  CHECK(s.all == Approx(15.0 / 16));
  // Blank images are found nowhere.
  CHECK_FALSE(detect_shape(Tensor::full({3, 32, 32}, -1.0)).found);
}
