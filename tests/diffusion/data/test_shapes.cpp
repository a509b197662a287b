// Tests of the Shapes generator: areas, held-out pairs, captions.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>
#include <string>

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

TEST_CASE("the renderer draws what the caption says, checked without the renderer's own tables", "[shapes]") {
  // The Shapes detector (evaluation/) judges images with the renderer's colour table and coverage code, so a
  // bug in those would pass it. Here every attribute combination is rendered and read back with this test's
  // own knowledge of the caption's words only: the colour word's RGB, the fill ratio of each shape in its
  // bounding box (circle pi/4, square 1, triangle 1/2, its rows one pixel wider per row downwards: apex up), the
  // size word's extent and the position words' grid cell. (Checked to fail with the triangle drawn apex down.)
  const std::map<std::string, std::array<double, 3>> rgb = {
      {"red", {1, 0, 0}},     {"green", {0, 1, 0}}, {"blue", {0, 0, 1}}, {"yellow", {1, 1, 0}},
      {"magenta", {1, 0, 1}}, {"cyan", {0, 1, 1}},  {"white", {1, 1, 1}}};
  const std::map<std::string, double> fill = {{"circle", M_PI / 4}, {"square", 1.0}, {"triangle", 0.5}};
  const auto word_in = [](const std::string& caption, const std::string& w) {
    return (" " + caption + " ").find(" " + w + " ") != std::string::npos;
  };
  Generator gen(11);
  for (const ShapeAttributes& a : all_shape_attributes()) {
    const std::string caption = shapes_caption(a);
    INFO(caption);
    const Tensor img = render_shape(a, gen);  // (3, 32, 32) in [-1, 1]
    const std::vector<double> v = img.to_vector();
    const auto at = [&](int c, int y, int x) { return v[static_cast<size_t>((c * 32 + y) * 32 + x)]; };
    // Coverage of a pixel: every colour has a channel at 1, where the value is 2 coverage - 1.
    const auto coverage = [&](int y, int x) { return (std::max({at(0, y, x), at(1, y, x), at(2, y, x)}) + 1) / 2; };
    int x0 = 32, x1 = -1, y0 = 32, y1 = -1;
    double area = 0.0, fullest = 0.0;
    int fy = 0, fx = 0;
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const double c = coverage(y, x);
        if (c <= 0.0) continue;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        area += c;
        if (c > fullest) fullest = c, fy = y, fx = x;
      }
    REQUIRE(x1 >= 0);
    // Colour: a fully covered pixel holds the colour word's RGB exactly.
    int colour_words = 0;
    for (const auto& [name, c] : rgb)
      if (word_in(caption, name)) {
        ++colour_words;
        REQUIRE(fullest == 1.0);
        for (int ch = 0; ch < 3; ++ch) CHECK(at(ch, fy, fx) == 2.0 * c[static_cast<size_t>(ch)] - 1.0);
      }
    CHECK(colour_words == 1);
    // Size: the drawn extent in pixels, +-1 (a shape straddling pixel edges touches one more; the 4x4
    // sub-samples can miss the sliver of a circle's edge or a triangle's apex).
    const double extent = word_in(caption, "large") ? 16.0 : 8.0;
    CHECK(word_in(caption, "large") != word_in(caption, "small"));
    CHECK(std::abs(x1 - x0 + 1 - extent) <= 1.0);
    CHECK(std::abs(y1 - y0 + 1 - extent) <= 1.0);
    // Shape: the fill ratio of the area in an extent x extent box, and the triangle's apex up.
    for (const auto& [name, ratio] : fill)
      if (word_in(caption, name)) CHECK(area / (extent * extent) == Approx(ratio).margin(0.04));
    // The triangle: the least-squares slope of row area against row is +1 pixel per row in the middle rows and
    // less at the partly covered apex and base rows (0.58 for an 8-pixel triangle seen here); apex down would
    // give the opposite sign, a square or circle about 0.
    if (word_in(caption, "triangle")) {
      double n = 0, sy = 0, sr = 0, syy = 0, syr = 0;
      for (int y = y0; y <= y1; ++y) {
        double r = 0.0;
        for (int x = x0; x <= x1; ++x) r += coverage(y, x);
        n += 1, sy += y, sr += r, syy += double(y) * y, syr += y * r;
      }
      const double slope = (n * syr - sy * sr) / (n * syy - sy * sy);
      CHECK(slope > 0.4);
      CHECK(slope < 1.2);
    }
    // Position: the bounding box's centre lies in the cell the position words name.
    const double cx = (x0 + x1 + 1) / 2.0, cy = (y0 + y1 + 1) / 2.0;
    const int row = word_in(caption, "top") ? 0 : word_in(caption, "bottom") ? 2 : 1;
    const int col = word_in(caption, "left") ? 0 : word_in(caption, "right") ? 2 : 1;
    CHECK(static_cast<int>(cy / (32.0 / 3.0)) == row);
    CHECK(static_cast<int>(cx / (32.0 / 3.0)) == col);
  }
}
