/// \file
/// \brief Shapes: a procedurally generated, exactly scorable text-to-image data set.
///
/// Each 32x32 RGB image shows one filled shape on black, with four independent attributes:
///
/// | attribute | values |
/// |---|---|
/// | shape | circle, square, triangle (isosceles, apex up, base = height) |
/// | colour | red, green, blue, yellow, magenta, cyan, white (pure RGB values) |
/// | size | small (diameter / side / base 8 px) or large (16 px) |
/// | position | the cell of a 3x3 grid holding the shape's centre (jittered inside the cell, at least 1 px from its
/// borders) |
///
/// Shapes are anti-aliased: a pixel's intensity is the fraction of its 4x4 sub-samples inside
/// the shape. Geometry uses continuous coordinates in which pixel (x, y) covers
/// \f$[x, x+1) \times [y, y+1)\f$; the shape's centre is the centre of its bounding box, and the
/// whole shape always lies inside the image.
///
/// Captions come from templates such as "a large red circle at the top left" and paraphrases
/// ("red circle, large, at the top left"), so word order varies. Three (shape, colour) pairs
/// never occur in training — green triangle, yellow circle, magenta square — so a model's
/// samples for them measure compositional generalisation: combining attributes it has only
/// seen apart.
///
/// Usage:
/// \code
///   Generator gen(7);
///   ShapesBatch b = sample_shapes(gen, 64);     // b.images: (64, 3, 32, 32) in [-1, 1]
///   fmt::print("{}\n", b.captions[0]);          // e.g. "a small cyan square on the right"
/// \endcode
#pragma once

#include <array>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

/// Side of a Shapes image in pixels.
inline constexpr int64_t kShapesImageSize = 32;

/// The four attributes of a Shapes image, each an index into its name list.
struct ShapeAttributes {
  int shape = 0;     ///< 0 circle, 1 square, 2 triangle
  int colour = 0;    ///< 0 red, 1 green, 2 blue, 3 yellow, 4 magenta, 5 cyan, 6 white
  int size = 0;      ///< 0 small, 1 large
  int position = 0;  ///< 0..8: grid cell, row-major from the top left
  /// Equal when all four attributes are equal.
  bool operator==(const ShapeAttributes&) const = default;
};

/// Shape names used in captions: circle, square, triangle.
const std::array<std::string, 3>& shape_names();
/// Colour names used in captions: red, green, blue, yellow, magenta, cyan, white.
const std::array<std::string, 7>& colour_names();
/// Size names used in captions: small, large.
const std::array<std::string, 2>& size_names();
/// "at the top left", "at the top", ..., "at the bottom right".
const std::array<std::string, 9>& position_phrases();
/// RGB of colour i in [0, 1].
std::array<double, 3> colour_rgb(int colour);
/// Extent in pixels of size i: 8 or 16.
double size_pixels(int size);

/// True for the (shape, colour) pairs held out of training: green triangle, yellow circle, magenta square.
bool is_held_out(int shape, int colour);

/// The main caption template: "a {size} {colour} {shape} {position phrase}".
std::string shapes_caption(const ShapeAttributes& a);
/// Caption from template `which` (0 = the main one; 1..3 paraphrases with other word orders).
std::string shapes_caption(const ShapeAttributes& a, int which);
/// Number of caption templates.
int shapes_caption_templates();

/// Fraction of pixel (x, y) covered by a shape centred at (cx, cy) with extent `extent`, from 4x4 sub-samples.
double shape_coverage(int shape, double cx, double cy, double extent, int64_t x, int64_t y);

/// Renders one image (3, 32, 32) in [-1, 1], the centre jittered inside its cell with `gen`.
Tensor render_shape(const ShapeAttributes& a, Generator& gen);
/// Renders with an explicit centre (cx, cy) in pixels.
Tensor render_shape_at(const ShapeAttributes& a, double cx, double cy);

/// A batch of images with their captions and attributes.
struct ShapesBatch {
  Tensor images;                            ///< (B, 3, 32, 32) float32 in [-1, 1]
  std::vector<std::string> captions;        ///< one caption per image, template chosen at random
  std::vector<ShapeAttributes> attributes;  ///< ground truth per image
};

/// Draws B random images: attributes uniform, held-out pairs excluded when `training` is true
/// (redrawn), caption templates chosen at random (the main template half of the time).
ShapesBatch sample_shapes(Generator& gen, int64_t batch, bool training = true);

/// Every attribute combination (3 x 7 x 2 x 9 = 378), held-out pairs included; filter with is_held_out().
std::vector<ShapeAttributes> all_shape_attributes();

}  // namespace tinydiff
