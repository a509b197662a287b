/// \file
/// \brief Generated images as chart panels: a tensor image, or a grid of them with labelled
/// columns and rows, drawn by gnuplot among the other panels of a figure (plot.h).
///
/// tinydiff::save_png() writes an image as it is; these helpers turn it into a `Chart` panel
/// (an RgbImage), so a figure can put a title over a grid of samples and a class name under
/// each column, or place a sample beside heat maps.
///
/// Usage:
/// \code
///   Tensor samples = ...;                                  // (N, C, 32, 32) in [-1, 1]
///   Chart c = grid_chart(samples, 10, "guidance w = 3", class_names);
///   save_figure(args.out, "t09_grid", Figure{.panels = {c}, .width = 900, .height = 320});
/// \endcode
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tutorials/common/plot.h"

namespace tinydiff::tutorial {

/// An image (C, H, W), C = 1 or 3, with values in [lo, hi], as an RgbImage (grey when C = 1).
RgbImage rgb_image(const Tensor& image, double lo = -1.0, double hi = 1.0);

/// A panel showing images (N, C, H, W) in [-1, 1] tiled `columns` per row with 2 pixels of
/// white between them (tinydiff::make_grid), titled `title`; `column_labels` (one per column,
/// or empty) are written under the columns as they are, and `row_labels` left of the rows in
/// gnuplot's enhanced text (`x_t` draws t as a subscript): one per row, or one per group of
/// `rows_per_label` rows (centred on the group), or none.
Chart grid_chart(const Tensor& images, int64_t columns, const std::string& title,
                 const std::vector<std::string>& column_labels = {}, const std::vector<std::string>& row_labels = {},
                 int64_t rows_per_label = 1);

}  // namespace tinydiff::tutorial
