// Tests of the Shapes generator: areas, held-out pairs, captions.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "diffusion/data/shapes.h"
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
