/// \file
/// \brief An exact attribute detector for Shapes images, used to score generated samples.
///
/// The detector reads back the four attributes of a Shapes image (see shapes.h):
/// 1. bright pixels are those whose largest channel exceeds a threshold (0.35 on a 0..1 scale);
///    the largest 4-connected blob of them is the shape, so dim background blotches do not count;
/// 2. colour: the nearest palette colour to the blob's mean colour, after scaling that mean so
///    its largest channel is 1 (anti-aliased edges are dimmer but the same hue);
/// 3. a template fit: the blob's at-least-half-covered pixels give a bounding box; around its
///    centre (+-1 px in quarter-pixel steps) and extent (+-1 px in half-pixel steps) the ideal
///    circle, square and triangle are drawn with anti-aliasing, and the one with the largest soft
///    intersection-over-union \f$\sum \min(t, b) / \sum \max(t, b)\f$ with the blob's brightness b wins;
/// 4. size: small when the best fit's extent is below 12 px, else large;
/// 5. position: the 3x3 grid cell holding the best fit's centre.
///
/// Usage:
/// \code
///   DetectedShape d = detect_shape(image);               // image: (3, 32, 32) in [-1, 1]
///   if (d.found && d.attributes == truth) ...
/// \endcode
#pragma once

#include "diffusion/data/shapes.h"

namespace tinydiff {

/// What the detector saw in one image.
struct DetectedShape {
  bool found = false;          ///< false when no pixel is bright (every attribute then counts as wrong)
  ShapeAttributes attributes;  ///< the detected attributes (meaningful when found)
  int64_t blob_pixels = 0;     ///< size of the largest bright blob
  double shape_iou = 0.0;      ///< IoU of the best template
};

/// Detects the attributes of one image (3, 32, 32) in [-1, 1].
DetectedShape detect_shape(const Tensor& image);

/// Per-attribute agreement of detections with the truth.
struct ShapeScores {
  int64_t count = 0;    ///< images scored
  double shape = 0;     ///< fraction with the right shape
  double colour = 0;    ///< fraction with the right colour
  double size = 0;      ///< fraction with the right size
  double position = 0;  ///< fraction with the right position
  double all = 0;       ///< fraction with all four correct
};

/// Scores images (N, 3, 32, 32) against their intended attributes.
ShapeScores score_shapes(const Tensor& images, const std::vector<ShapeAttributes>& truth);

}  // namespace tinydiff
