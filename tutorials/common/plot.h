/// \file
/// \brief Charts for the tutorials: the program writes its numbers as CSV and a gnuplot script,
/// and gnuplot (Debian's `gnuplot-nox`, pngcairo terminal) draws the PNG.
///
/// A `Figure` is one PNG made of one or more panels (gnuplot's multiplot, `columns` per row).
/// A panel is a `Chart`: line/point/vector/box series on shared axes, one heat map, or one
/// picture (`RgbImage`, e.g. a grid of generated samples with its columns labelled by `xtics`).
/// `save_figure(dir, "t04_loss", fig)` writes three files side by side:
///
/// - `t04_loss.csv`: every series as a block of comma-separated rows (x, y, or x, y, dx, dy for
///   arrows and boxes; a heat map as column, row, value; a picture as column, row, r, g, b), each block headed by a `#`
///   comment naming its panel and series, blocks separated by two blank lines (gnuplot's `index`);
/// - `t04_loss.gp`: the gnuplot script that reads that CSV (run `gnuplot t04_loss.gp` to redraw);
/// - `t04_loss.png`: the picture.
///
/// Titles and axis labels use gnuplot's *enhanced text*: `x_t` draws t as a subscript, `2^n` n as
/// a superscript; a literal underscore needs a backslash before it (the C++ literal `"a\\_b"`).
/// UTF-8 (Greek letters, combining accents) is drawn as written. Tick labels (`Chart::xtics`,
/// heat map labels) are drawn exactly as written.
/// If gnuplot is not installed, `save_figure` throws tinydiff::Error saying so (`apt-get install
/// gnuplot-nox`); if gnuplot fails, the Error quotes its messages.
///
/// Usage:
/// \code
///   Chart c;
///   c.title = "training loss";
///   c.xlabel = "step";
///   c.logy = true;
///   c.series.push_back({.title = "loss", .x = steps, .y = losses});
///   save_figure(args.out, "t04_loss", Figure{.panels = {c}});
/// \endcode
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tinydiff::tutorial {

/// One set of points drawn one way.
struct Series {
  std::string title{};              ///< key entry; empty: not listed in the key
  std::vector<double> x{};          ///< x coordinates
  std::vector<double> y{};          ///< y coordinates (same length as x)
  std::vector<double> dx{};         ///< 3rd column: arrow components ("vectors") or half-widths ("boxxyerror")
  std::vector<double> dy{};         ///< 4th column, as dx; both empty for two-column series
  std::string with = "lines lw 2";  ///< gnuplot's "with" clause: "lines lw 2", "points pt 7 ps 0.4", "vectors", "boxes"
  std::string color{};              ///< "#rrggbb"; empty: gnuplot's next default colour
};

/// A matrix drawn as coloured cells, row 0 at the top.
struct HeatMap {
  std::vector<std::vector<double>> values{};         ///< values[row][column]
  std::vector<std::string> row_labels{};             ///< one per row (or empty: numbers)
  std::vector<std::string> column_labels{};          ///< one per column (or empty: numbers)
  std::optional<std::pair<double, double>> range{};  ///< colour range; default: the data's range
  std::string palette{};  ///< gnuplot palette, e.g. `defined (-1 "blue", 0 "white", 1 "red")`; default white to red
};

/// A picture drawn pixel for pixel (gnuplot's `rgbimage`), row 0 at the top; square pixels.
struct RgbImage {
  int64_t height = 0;         ///< rows
  int64_t width = 0;          ///< columns
  std::vector<double> rgb{};  ///< height x width x 3 values in [0, 1], row-major (row, column, channel)
};

/// One panel: series on shared axes, a heat map, or a picture.
struct Chart {
  std::string title{};                                  ///< panel title
  std::string xlabel{};                                 ///< x axis label
  std::string ylabel{};                                 ///< y axis label
  std::vector<Series> series{};                         ///< drawn in order (ignored when heatmap is set)
  std::optional<HeatMap> heatmap{};                     ///< draw this matrix instead of series
  bool logx = false;                                    ///< logarithmic x axis
  bool logy = false;                                    ///< logarithmic y axis
  bool equal_axes = false;                              ///< one unit on x as long as one on y (scatter plots)
  std::optional<std::pair<double, double>> xrange{};    ///< x limits; default: automatic
  std::optional<std::pair<double, double>> yrange{};    ///< y limits; default: automatic
  std::vector<std::pair<double, std::string>> xtics{};  ///< labelled x ticks (bar charts); default: automatic
  std::string key = "top right";                        ///< gnuplot key position, or "off"
  std::string extra{};                                  ///< more gnuplot commands for this panel, one per line
  std::optional<RgbImage> image{};  ///< draw this picture instead (no ticks unless `xtics` or `extra` set some)
};

/// One PNG: panels laid out `columns` per row.
struct Figure {
  std::vector<Chart> panels{};  ///< at least one
  int columns = 1;              ///< panels per row
  int width = 640;              ///< PNG width in pixels
  int height = 400;             ///< PNG height in pixels
  std::string title{};          ///< an overall title above the panels (multiplot only)
  /// Draw with gnuplot's libgd `png` terminal instead of `pngcairo`: a PNG of at most 256
  /// colours, pictures scaled without smoothing, text and lines without anti-aliasing. For
  /// figures made mostly of small images (RgbImage panels) it makes files about half as big.
  bool palette = false;
};

/// Writes `<dir>/<name>.csv` and `<dir>/<name>.gp`, runs gnuplot on the script and returns the
/// path of `<dir>/<name>.png`. Throws tinydiff::Error when a series' lengths disagree, when
/// gnuplot is missing, or when gnuplot fails or writes no PNG (quoting gnuplot's messages).
std::string save_figure(const std::string& dir, const std::string& name, const Figure& figure);

/// True when a `gnuplot` executable is on the PATH.
bool gnuplot_available();

/// Evenly spaced values: n points from `lo` to `hi` inclusive (n >= 2), like numpy.linspace.
std::vector<double> linspace(double lo, double hi, int n);

}  // namespace tinydiff::tutorial
