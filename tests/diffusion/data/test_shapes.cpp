// Tests of the Shapes generator and its attribute detector.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "diffusion/data/shapes.h"
#include "diffusion/evaluation/shapes_detector.h"
#include "diffusion/models/tokenizer.h"

using namespace tinydiff;

namespace {
// Sum of coverage over the image, i.e. the drawn area in pixels.
double drawn_area(const Tensor& img, int colour) {
  // The channel that is 1 for every palette colour used here.
  const int c = colour_rgb(colour)[0] > 0 ? 0 : (colour_rgb(colour)[1] > 0 ? 1 : 2);
  double area = 0;
  for (double v : img.slice(0, c, c + 1).to_vector()) area += (v + 1.0) / 2.0;
  return area;
}
}  // namespace

TEST_CASE("shapes have the documented areas and stay inside the image", "[shapes]") {
  Generator gen(1);
  for (int size = 0; size < 2; ++size) {
    const double s = size_pixels(size);
    for (int pos = 0; pos < 9; ++pos) {
      // circle: pi (s/2)^2, square: s^2, triangle: s^2 / 2 (4x4 supersampling: within ~4%).
      CHECK(drawn_area(render_shape({0, 0, size, pos}, gen), 0) == Approx(M_PI * s * s / 4).epsilon(0.04));
      CHECK(drawn_area(render_shape({1, 0, size, pos}, gen), 0) == Approx(s * s).epsilon(0.04));
      CHECK(drawn_area(render_shape({2, 0, size, pos}, gen), 0) == Approx(s * s / 2).epsilon(0.04));
    }
  }
}

TEST_CASE("the detector reads back every attribute combination of generated images", "[shapes][detector]") {
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

TEST_CASE("training batches never contain held-out pairs, and captions name the attributes", "[shapes]") {
  Generator gen(4);
  ShapesBatch b = sample_shapes(gen, 300, true);
  REQUIRE(b.images.shape() == Shape{300, 3, 32, 32});
  std::set<int> templates_seen;
  for (size_t i = 0; i < b.attributes.size(); ++i) {
    const auto& a = b.attributes[i];
    CHECK_FALSE(is_held_out(a.shape, a.colour));
    const std::string& cap = b.captions[i];
    CHECK(cap.find(shape_names()[a.shape]) != std::string::npos);
    CHECK(cap.find(colour_names()[a.colour]) != std::string::npos);
    CHECK(cap.find(size_names()[a.size]) != std::string::npos);
    CHECK(cap.find(position_phrases()[a.position]) != std::string::npos);
    for (int t = 0; t < shapes_caption_templates(); ++t)
      if (cap == shapes_caption(a, t)) templates_seen.insert(t);
  }
  CHECK(templates_seen.size() == 4);
  CHECK(is_held_out(2, 1));  // green triangle
  CHECK(is_held_out(0, 3));  // yellow circle
  CHECK(is_held_out(1, 4));  // magenta square
  CHECK(shapes_caption({0, 0, 1, 0}) == "a large red circle at the top left");
  // Every caption word is in a vocabulary built from captions (held-out prompts included).
  Tokenizer tok = Tokenizer::build(b.captions);
  CHECK(tok.encode(shapes_caption({2, 1, 0, 4})).unknown.empty());
  CHECK_THROWS_WITH(render_shape_at({3, 0, 0, 0}, 16, 16), Catch::Contains("attributes out of range"));
}
