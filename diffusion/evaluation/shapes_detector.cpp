// The Shapes attribute detector. See shapes_detector.h.
#include "diffusion/evaluation/shapes_detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace tinydiff {

namespace {
constexpr double kBright = 0.35;     // brightness threshold on a 0..1 scale
constexpr double kLargeFrom = 12.0;  // bounding-box extent separating small (8) from large (16)
}  // namespace

DetectedShape detect_shape(const Tensor& image) {
  check_floating(image, "detect_shape");
  const int64_t n = kShapesImageSize;
  TD_CHECK(image.shape() == (Shape{3, n, n}), "detect_shape",
           fmt::format("expected an image of shape (3, 32, 32), got {}", shape_str(image.shape())));
  const std::vector<double> v = image.to_vector();  // (3, 32, 32), values in [-1, 1]
  auto at = [&](int64_t c, int64_t y, int64_t x) { return (v[static_cast<size_t>((c * n + y) * n + x)] + 1.0) / 2.0; };

  // 1. Bright pixels and the largest 4-connected blob (iterative flood fill).
  std::vector<int> label(static_cast<size_t>(n * n), -1);
  std::vector<int64_t> best_pixels;
  for (int64_t start = 0; start < n * n; ++start) {
    const int64_t sy = start / n, sx = start % n;
    if (label[static_cast<size_t>(start)] >= 0) continue;
    if (std::max({at(0, sy, sx), at(1, sy, sx), at(2, sy, sx)}) <= kBright) continue;
    std::vector<int64_t> pixels, stack{start};
    label[static_cast<size_t>(start)] = 1;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      pixels.push_back(p);
      const int64_t y = p / n, x = p % n;
      const int64_t ny[4] = {y - 1, y + 1, y, y}, nx[4] = {x, x, x - 1, x + 1};
      for (int k = 0; k < 4; ++k) {
        if (ny[k] < 0 || ny[k] >= n || nx[k] < 0 || nx[k] >= n) continue;
        const int64_t q = ny[k] * n + nx[k];
        if (label[static_cast<size_t>(q)] >= 0) continue;
        if (std::max({at(0, ny[k], nx[k]), at(1, ny[k], nx[k]), at(2, ny[k], nx[k])}) <= kBright) continue;
        label[static_cast<size_t>(q)] = 1;
        stack.push_back(q);
      }
    }
    if (pixels.size() > best_pixels.size()) best_pixels = std::move(pixels);
  }
  DetectedShape d;
  if (best_pixels.empty()) return d;
  d.found = true;
  d.blob_pixels = static_cast<int64_t>(best_pixels.size());

  // 2. Colour: mean colour scaled to a unit largest channel, nearest palette entry.
  double mean[3] = {0, 0, 0};
  for (int64_t p : best_pixels)
    for (int c = 0; c < 3; ++c) mean[c] += at(c, p / n, p % n);
  const double top = std::max({mean[0], mean[1], mean[2]});
  double best_dist = 1e30;
  for (int c = 0; c < 7; ++c) {
    const auto rgb = colour_rgb(c);
    double dist = 0;
    for (int k = 0; k < 3; ++k) dist += (mean[k] / top - rgb[k]) * (mean[k] / top - rgb[k]);
    if (dist < best_dist) best_dist = dist, d.attributes.colour = c;
  }

  // Geometry uses the blob's pixels that are at least half covered (brightness >= 0.5): for a
  // straight edge exactly one of the two partial pixels passes, so extents come out exact.
  int64_t min_x = n, max_x = -1, min_y = n, max_y = -1;
  for (int64_t p : best_pixels) {
    const int64_t y = p / n, x = p % n;
    if (std::max({at(0, y, x), at(1, y, x), at(2, y, x)}) < 0.5) continue;
    min_x = std::min(min_x, x), max_x = std::max(max_x, x), min_y = std::min(min_y, y), max_y = std::max(max_y, y);
  }
  if (max_x < 0) {  // a faint blob: use all of it
    for (int64_t p : best_pixels) {
      const int64_t y = p / n, x = p % n;
      min_x = std::min(min_x, x), max_x = std::max(max_x, x), min_y = std::min(min_y, y), max_y = std::max(max_y, y);
    }
  }

  // 3-5. Fit: for each template, search the centre (+-1 px around the bounding box's centre in
  // quarter pixels) and the extent (+-1 px around the box's) for the best soft IoU
  // sum(min(t, b)) / sum(max(t, b)) between template coverage t and blob brightness b. The
  // best fit gives the shape, its extent the size, its centre the position.
  std::vector<double> blob(static_cast<size_t>(n * n), 0.0);
  for (int64_t p : best_pixels)
    blob[static_cast<size_t>(p)] = std::max({at(0, p / n, p % n), at(1, p / n, p % n), at(2, p / n, p % n)});
  const double box_extent = static_cast<double>(std::max(max_x - min_x, max_y - min_y) + 1);
  const double box_cx = (min_x + max_x + 1) / 2.0, box_cy = (min_y + max_y + 1) / 2.0;
  const int64_t x_lo = std::max<int64_t>(0, min_x - 3), x_hi = std::min<int64_t>(n - 1, max_x + 3);
  const int64_t y_lo = std::max<int64_t>(0, min_y - 3), y_hi = std::min<int64_t>(n - 1, max_y + 3);
  double best_cx = box_cx, best_cy = box_cy, best_extent = box_extent;
  for (int s = 0; s < 3; ++s)
    for (double e = box_extent - 1.0; e <= box_extent + 1.0; e += 0.5)
      for (double cy = box_cy - 1.0; cy <= box_cy + 1.0; cy += 0.25)
        for (double cx = box_cx - 1.0; cx <= box_cx + 1.0; cx += 0.25) {
          double inter = 0, uni = 0;
          for (int64_t y = y_lo; y <= y_hi; ++y)
            for (int64_t x = x_lo; x <= x_hi; ++x) {
              const double t = shape_coverage(s, cx, cy, e, x, y), b = blob[static_cast<size_t>(y * n + x)];
              inter += std::min(t, b);
              uni += std::max(t, b);
            }
          const double iou = uni > 0 ? inter / uni : 0.0;
          if (iou > d.shape_iou) d.shape_iou = iou, d.attributes.shape = s, best_cx = cx, best_cy = cy, best_extent = e;
        }
  d.attributes.size = best_extent < kLargeFrom ? 0 : 1;
  const double cell = static_cast<double>(n) / 3.0;
  const int col = std::clamp(static_cast<int>(best_cx / cell), 0, 2),
            row = std::clamp(static_cast<int>(best_cy / cell), 0, 2);
  d.attributes.position = row * 3 + col;
  return d;
}

ShapeScores score_shapes(const Tensor& images, const std::vector<ShapeAttributes>& truth) {
  check_floating(images, "score_shapes");
  TD_CHECK(images.dim() == 4 && images.size(0) == static_cast<int64_t>(truth.size()), "score_shapes",
           fmt::format("expected images (N, 3, 32, 32) with N = {} attribute records, got {}", truth.size(),
                       shape_str(images.shape())));
  ShapeScores s;
  s.count = images.size(0);
  for (int64_t i = 0; i < s.count; ++i) {
    const DetectedShape d = detect_shape(images.slice(0, i, i + 1).squeeze(0));
    const ShapeAttributes& t = truth[static_cast<size_t>(i)];
    if (!d.found) continue;
    const bool sh = d.attributes.shape == t.shape, co = d.attributes.colour == t.colour,
               si = d.attributes.size == t.size, po = d.attributes.position == t.position;
    s.shape += sh, s.colour += co, s.size += si, s.position += po, s.all += sh && co && si && po;
  }
  if (s.count > 0) {
    const double n = static_cast<double>(s.count);
    s.shape /= n, s.colour /= n, s.size /= n, s.position /= n, s.all /= n;
  }
  return s;
}

}  // namespace tinydiff
