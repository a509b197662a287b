// Generated images as chart panels. See pictures.h.
#include "tutorials/common/pictures.h"

#include <fmt/format.h>

#include "diffusion/data/image_io.h"

namespace tinydiff::tutorial {

RgbImage rgb_image(const Tensor& image, double lo, double hi) {
  TD_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3), "rgb_image",
           fmt::format("expected an image (C, H, W) with C = 1 or 3, got {}", shape_str(image.shape())));
  const int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  const std::vector<double> v = image.contiguous().to_vector();  // (C, H, W) row-major
  RgbImage out{.height = h, .width = w};
  out.rgb.reserve(static_cast<size_t>(h * w * 3));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < 3; ++k)
        out.rgb.push_back((v[static_cast<size_t>(((c == 1 ? 0 : k) * h + y) * w + x)] - lo) / (hi - lo));
  return out;
}

Chart grid_chart(const Tensor& images, int64_t columns, const std::string& title,
                 const std::vector<std::string>& column_labels, const std::vector<std::string>& row_labels,
                 int64_t rows_per_label) {
  const int64_t pad = 2, cell_h = images.size(2) + pad, cell_w = images.size(3) + pad;
  Chart c{.title = title, .key = "off"};
  c.image = rgb_image(make_grid(images, columns, pad, 1.0));  // white separators
  for (size_t i = 0; i < column_labels.size(); ++i)
    c.xtics.emplace_back(static_cast<double>(pad + static_cast<int64_t>(i) * cell_w) + (cell_w - pad - 1) / 2.0,
                         column_labels[i]);
  if (!row_labels.empty()) {
    std::string tics = "set ytics (";
    for (size_t i = 0; i < row_labels.size(); ++i)
      tics += fmt::format("{}\"{}\" {}", i ? ", " : "", row_labels[i],
                          static_cast<double>(pad + static_cast<int64_t>(i) * rows_per_label * cell_h) +
                              (rows_per_label * cell_h - pad - 1) / 2.0);
    c.extra = tics + ")";
    for (size_t i = 1; rows_per_label > 1 && i < row_labels.size(); ++i)  // a wider white gap between groups
      c.extra +=
          fmt::format("\nset arrow from graph 0, first {0} to graph 1, first {0} nohead lw 4 lc rgb \"white\" front",
                      static_cast<double>(static_cast<int64_t>(i) * rows_per_label * cell_h) + 0.5);
  }
  return c;
}

}  // namespace tinydiff::tutorial
