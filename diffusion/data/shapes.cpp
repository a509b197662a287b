// The Shapes data set generator. See shapes.h.
#include "diffusion/data/shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tinydiff {

const std::array<std::string, 3>& shape_names() {
  static const std::array<std::string, 3> names = {"circle", "square", "triangle"};
  return names;
}
const std::array<std::string, 7>& colour_names() {
  static const std::array<std::string, 7> names = {"red", "green", "blue", "yellow", "magenta", "cyan", "white"};
  return names;
}
const std::array<std::string, 2>& size_names() {
  static const std::array<std::string, 2> names = {"small", "large"};
  return names;
}
const std::array<std::string, 9>& position_phrases() {
  static const std::array<std::string, 9> names = {"at the top left",    "at the top",    "at the top right",
                                                   "on the left",        "in the center", "on the right",
                                                   "at the bottom left", "at the bottom", "at the bottom right"};
  return names;
}

std::array<double, 3> colour_rgb(int colour) {
  static const std::array<std::array<double, 3>, 7> rgb = {
      {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}}};
  TD_CHECK(colour >= 0 && colour < 7, "colour_rgb", fmt::format("colour {} is not 0..6", colour));
  return rgb[static_cast<size_t>(colour)];
}

double size_pixels(int size) {
  TD_CHECK(size == 0 || size == 1, "size_pixels", fmt::format("size {} is not 0 (small) or 1 (large)", size));
  return size == 0 ? 8.0 : 16.0;
}

bool is_held_out(int shape, int colour) {
  return (shape == 2 && colour == 1) || (shape == 0 && colour == 3) || (shape == 1 && colour == 4);
}

namespace {
void check_attributes(const ShapeAttributes& a, const char* op) {
  TD_CHECK(a.shape >= 0 && a.shape < 3 && a.colour >= 0 && a.colour < 7 && a.size >= 0 && a.size < 2 &&
               a.position >= 0 && a.position < 9,
           op,
           fmt::format("attributes out of range: shape {} (0..2), colour {} (0..6), size {} (0..1), position {} (0..8)",
                       a.shape, a.colour, a.size, a.position));
}

// Is the point (px, py) inside the shape centred at (cx, cy) with extent s?
bool inside(int shape, double cx, double cy, double s, double px, double py) {
  const double h = s / 2;
  switch (shape) {
    case 0:
      return (px - cx) * (px - cx) + (py - cy) * (py - cy) <= h * h;  // circle of diameter s
    case 1:
      return std::abs(px - cx) <= h && std::abs(py - cy) <= h;  // square of side s
    default: {  // triangle, apex (cx, cy - h), base from (cx - h, cy + h) to (cx + h, cy + h)
      const double top = cy - h;
      if (py < top || py > cy + h) return false;
      return std::abs(px - cx) <= (py - top) / 2;  // half-width grows from 0 to s/2
    }
  }
}
}  // namespace

double shape_coverage(int shape, double cx, double cy, double extent, int64_t x, int64_t y) {
  int hits = 0;
  for (int sy = 0; sy < 4; ++sy)
    for (int sx = 0; sx < 4; ++sx)
      hits += inside(shape, cx, cy, extent, static_cast<double>(x) + (sx + 0.5) / 4,
                     static_cast<double>(y) + (sy + 0.5) / 4);
  return hits / 16.0;
}

std::string shapes_caption(const ShapeAttributes& a) { return shapes_caption(a, 0); }

int shapes_caption_templates() { return 4; }

std::string shapes_caption(const ShapeAttributes& a, int which) {
  check_attributes(a, "shapes_caption");
  const std::string& shape = shape_names()[static_cast<size_t>(a.shape)];
  const std::string& colour = colour_names()[static_cast<size_t>(a.colour)];
  const std::string& size = size_names()[static_cast<size_t>(a.size)];
  const std::string& pos = position_phrases()[static_cast<size_t>(a.position)];
  switch (which) {
    case 0:
      return fmt::format("a {} {} {} {}", size, colour, shape, pos);
    case 1:
      return fmt::format("{} {}, {}, {}", colour, shape, size, pos);
    case 2:
      return fmt::format("{} there is a {} {} {}", pos, size, colour, shape);
    case 3:
      return fmt::format("a {} that is {} and {}, {}", shape, colour, size, pos);
    default:
      throw Error("shapes_caption", fmt::format("template {} is not 0..{}", which, shapes_caption_templates() - 1));
  }
}

Tensor render_shape_at(const ShapeAttributes& a, double cx, double cy) {
  check_attributes(a, "render_shape");
  const int64_t n = kShapesImageSize;
  const double s = size_pixels(a.size);
  const auto rgb = colour_rgb(a.colour);
  Tensor img = Tensor::empty({3, n, n});  // img: (3, 32, 32)
  float* p = img.data<float>();
  for (int64_t y = 0; y < n; ++y)
    for (int64_t x = 0; x < n; ++x) {
      const double cov = shape_coverage(a.shape, cx, cy, s, x, y);
      for (int64_t c = 0; c < 3; ++c) p[(c * n + y) * n + x] = static_cast<float>(2.0 * cov * rgb[c] - 1.0);
    }
  return img;
}

Tensor render_shape(const ShapeAttributes& a, Generator& gen) {
  check_attributes(a, "render_shape");
  // The centre lies in the grid cell, at least kCellMargin pixels from the cell's borders (so
  // the position is unambiguous), and far enough from the image border for the whole shape.
  constexpr double kCellMargin = 1.0;
  const double cell = static_cast<double>(kShapesImageSize) / 3.0;
  const double half = size_pixels(a.size) / 2;
  const double lo_edge = half, hi_edge = static_cast<double>(kShapesImageSize) - half;
  const int col = a.position % 3, row = a.position / 3;
  const double x0 = std::max(col * cell + kCellMargin, lo_edge), x1 = std::min((col + 1) * cell - kCellMargin, hi_edge);
  const double y0 = std::max(row * cell + kCellMargin, lo_edge), y1 = std::min((row + 1) * cell - kCellMargin, hi_edge);
  const double cx = x0 + (x1 - x0) * gen.uniform_double();
  const double cy = y0 + (y1 - y0) * gen.uniform_double();
  return render_shape_at(a, cx, cy);
}

ShapesBatch sample_shapes(Generator& gen, int64_t batch, bool training) {
  TD_CHECK(batch > 0, "sample_shapes", fmt::format("batch must be positive, got {}", batch));
  ShapesBatch out;
  out.images = Tensor::empty({batch, 3, kShapesImageSize, kShapesImageSize});  // images: (B, 3, 32, 32)
  for (int64_t i = 0; i < batch; ++i) {
    ShapeAttributes a;
    do {
      a.shape = static_cast<int>(gen.randint_scalar(0, 3));
      a.colour = static_cast<int>(gen.randint_scalar(0, 7));
    } while (training && is_held_out(a.shape, a.colour));
    a.size = static_cast<int>(gen.randint_scalar(0, 2));
    a.position = static_cast<int>(gen.randint_scalar(0, 9));
    // The main template half of the time, a paraphrase otherwise.
    const int which =
        gen.uniform_double() < 0.5 ? 0 : static_cast<int>(gen.randint_scalar(1, shapes_caption_templates()));
    out.images.slice(0, i, i + 1).squeeze(0).copy_(render_shape(a, gen));
    out.captions.push_back(shapes_caption(a, which));
    out.attributes.push_back(a);
  }
  return out;
}

std::vector<ShapeAttributes> all_shape_attributes() {
  std::vector<ShapeAttributes> all;
  for (int s = 0; s < 3; ++s)
    for (int c = 0; c < 7; ++c)
      for (int z = 0; z < 2; ++z)
        for (int p = 0; p < 9; ++p) all.push_back({s, c, z, p});
  return all;
}

}  // namespace tinydiff
