// CSV + gnuplot charts for the tutorials. See plot.h.
#include "tutorials/common/plot.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace tinydiff::tutorial {

namespace {

// A gnuplot double-quoted string: backslashes and quotes escaped.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A shell single-quoted string.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_series(const Series& s, const std::string& name) {
  TD_CHECK(!s.x.empty() && s.x.size() == s.y.size(), "save_figure",
           fmt::format("{}: series '{}' has {} x and {} y values; expected the same, non-zero number", name, s.title,
                       s.x.size(), s.y.size()));
  // Four-column styles need dx and dy; other series must leave them empty.
  const bool four = s.with.rfind("vectors", 0) == 0 || s.with.rfind("boxxyerror", 0) == 0;
  const size_t want = four ? s.x.size() : 0;
  TD_CHECK(s.dx.size() == want && s.dy.size() == want, "save_figure",
           fmt::format("{}: series '{}' drawn with '{}' needs dx and dy of length {}, got {} and {}", name, s.title,
                       s.with, want, s.dx.size(), s.dy.size()));
}

// Axis settings shared by both kinds of panel.
void write_axes(std::ostream& gp, const Chart& c) {
  gp << "set title " << quote(c.title) << "\n";
  gp << "set xlabel " << quote(c.xlabel) << "\n";
  gp << "set ylabel " << quote(c.ylabel) << "\n";
  if (c.logx) gp << "set logscale x\n";
  if (c.logy) gp << "set logscale y\n";
  if (c.xrange) gp << fmt::format("set xrange [{:.9g}:{:.9g}]\n", c.xrange->first, c.xrange->second);
  if (c.yrange) gp << fmt::format("set yrange [{:.9g}:{:.9g}]\n", c.yrange->first, c.yrange->second);
  if (c.equal_axes) gp << "set size ratio -1\n";
  if (!c.xtics.empty()) {
    gp << "set xtics (";
    for (size_t i = 0; i < c.xtics.size(); ++i)
      gp << (i ? ", " : "") << quote(c.xtics[i].second) << " " << fmt::format("{:.9g}", c.xtics[i].first);
    gp << ")\nset xtics noenhanced\n";  // tick labels are names, drawn as written
  }
  gp << (c.key == "off" ? std::string("set key off\n") : "set key " + c.key + "\n");
  if (!c.extra.empty()) gp << c.extra << "\n";
}

// Tick labels of a heat map axis: ("a" 0, "b" 1, ...).
std::string label_tics(const std::vector<std::string>& labels) {
  std::string s = "(";
  for (size_t i = 0; i < labels.size(); ++i) s += fmt::format("{}{} {}", i ? ", " : "", quote(labels[i]), i);
  return s + ")";
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string exe = (std::filesystem::path(dir) / "gnuplot").string();
    if (::access(exe.c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<double> linspace(double lo, double hi, int n) {
  TD_CHECK(n >= 2, "linspace", fmt::format("expected at least 2 points, got {}", n));
  std::vector<double> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = lo + (hi - lo) * i / (n - 1);
  return v;
}

std::string save_figure(const std::string& dir, const std::string& name, const Figure& figure) {
  TD_CHECK(!figure.panels.empty(), "save_figure", fmt::format("{}: a figure needs at least one panel", name));
  TD_CHECK(gnuplot_available(), "save_figure",
           fmt::format("{}: gnuplot was not found on the PATH; the tutorials draw their charts with it. Install "
                       "Debian's gnuplot-nox (apt-get install gnuplot-nox, or ./scripts/setup)",
                       name));
  const std::filesystem::path base = std::filesystem::path(dir) / name;
  std::filesystem::create_directories(dir);

  // The data: one block per series (or heat map), in panel order.
  std::ofstream csv(base.string() + ".csv");
  std::ostringstream gp;
  const int rows = static_cast<int>((figure.panels.size() + figure.columns - 1) / figure.columns);
  gp << "# Written by the tutorial program: draws " << name << ".png from " << name << ".csv.\n";
  gp << fmt::format("set terminal {} enhanced size {},{} font \"DejaVu Sans,10\"\n",
                    figure.palette ? "png" : "pngcairo", figure.width, figure.height);
  gp << "set output " << quote(name + ".png") << "\n";
  if (figure.panels.size() > 1 || !figure.title.empty())
    gp << fmt::format("set multiplot layout {},{} title {}\n", rows, figure.columns, quote(figure.title));
  int block = 0;
  for (size_t p = 0; p < figure.panels.size(); ++p) {
    const Chart& c = figure.panels[p];
    gp << "\n# panel " << p << ": " << c.title << "\nreset\nset datafile separator \",\"\nset grid\n";
    if (c.image)
      gp << "unset grid\nset tics scale 0\nunset xtics\nunset ytics\nunset colorbox\n";  // ticks only if asked for
    write_axes(gp, c);
    if (c.image) {
      const RgbImage& im = *c.image;
      TD_CHECK(im.height > 0 && im.width > 0 && im.rgb.size() == static_cast<size_t>(im.height * im.width * 3),
               "save_figure",
               fmt::format("{}: panel '{}' has a picture of {} x {} pixels but {} values; expected {}", name, c.title,
                           im.height, im.width, im.rgb.size(), im.height * im.width * 3));
      csv << fmt::format("# panel {} picture '{}': column, row, r, g, b (0..255)\n", p, c.title);
      const auto byte = [](double v) { return static_cast<int>(std::lround(255.0 * std::clamp(v, 0.0, 1.0))); };
      for (int64_t r = 0; r < im.height; ++r)
        for (int64_t col = 0; col < im.width; ++col) {
          const double* px = &im.rgb[static_cast<size_t>((r * im.width + col) * 3)];
          csv << fmt::format("{},{},{},{},{}\n", col, r, byte(px[0]), byte(px[1]), byte(px[2]));
        }
      csv << "\n\n";
      gp << "set size ratio -1\n";
      gp << fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n", im.width - 0.5, im.height - 0.5);
      gp << fmt::format("plot {} index {} using 1:2:3:4:5 with rgbimage notitle\n", quote(name + ".csv"), block++);
      continue;
    }
    if (c.heatmap) {
      const HeatMap& h = *c.heatmap;
      const size_t nr = h.values.size(), nc = nr ? h.values[0].size() : 0;
      TD_CHECK(nr > 0 && nc > 0, "save_figure", fmt::format("{}: panel '{}' has an empty heat map", name, c.title));
      csv << fmt::format("# panel {} heat map '{}': column, row, value\n", p, c.title);
      for (size_t r = 0; r < nr; ++r) {
        TD_CHECK(h.values[r].size() == nc, "save_figure",
                 fmt::format("{}: heat map row {} has {} values, row 0 has {}", name, r, h.values[r].size(), nc));
        for (size_t col = 0; col < nc; ++col) csv << fmt::format("{},{},{:.9g}\n", col, r, h.values[r][col]);
      }
      csv << "\n\n";
      gp << "unset grid\nset tics scale 0\nset palette "
         << (h.palette.empty() ? "defined (0 \"#ffffff\", 1 \"#fdd49e\", 2 \"#fc8d59\", 3 \"#b30000\")" : h.palette)
         << "\n";
      gp << fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n", nc - 0.5, nr - 0.5);
      if (!h.column_labels.empty())
        gp << "set xtics " << label_tics(h.column_labels) << " rotate by 45 right\nset xtics noenhanced\n";
      if (!h.row_labels.empty()) gp << "set ytics " << label_tics(h.row_labels) << "\nset ytics noenhanced\n";
      if (h.range) gp << fmt::format("set cbrange [{:.9g}:{:.9g}]\n", h.range->first, h.range->second);
      if (nr == nc) gp << "set size square\n";
      gp << fmt::format("plot {} index {} using 1:2:3 with image notitle\n", quote(name + ".csv"), block++);
      continue;
    }
    TD_CHECK(!c.series.empty(), "save_figure", fmt::format("{}: panel '{}' has no series", name, c.title));
    std::vector<std::string> plots;
    for (const Series& s : c.series) {
      check_series(s, name);
      const bool vectors = !s.dx.empty();
      csv << fmt::format("# panel {} series '{}': {}\n", p, s.title, vectors ? "x, y, dx, dy" : "x, y");
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (vectors)
          csv << fmt::format("{:.9g},{:.9g},{:.9g},{:.9g}\n", s.x[i], s.y[i], s.dx[i], s.dy[i]);
        else
          csv << fmt::format("{:.9g},{:.9g}\n", s.x[i], s.y[i]);
      }
      csv << "\n\n";
      std::string clause = fmt::format("{} index {} using {} with {}", plots.empty() ? quote(name + ".csv") : "\"\"",
                                       block++, vectors ? "1:2:3:4" : "1:2", s.with);
      if (!s.color.empty()) clause += " lc rgb " + quote(s.color);
      clause += s.title.empty() ? std::string(" notitle") : " title " + quote(s.title);
      plots.push_back(clause);
    }
    gp << "plot ";
    for (size_t i = 0; i < plots.size(); ++i) gp << (i ? ", \\\n     " : "") << plots[i];
    gp << "\n";
  }
  if (figure.panels.size() > 1 || !figure.title.empty()) gp << "unset multiplot\n";
  csv.close();
  TD_CHECK(csv.good(), "save_figure", fmt::format("could not write {}.csv", base.string()));
  {
    std::ofstream script(base.string() + ".gp");
    script << gp.str();
    TD_CHECK(script.good(), "save_figure", fmt::format("could not write {}.gp", base.string()));
  }

  const std::filesystem::path png = base.string() + ".png", log = base.string() + ".log";
  std::filesystem::remove(png);
  const std::string cmd = fmt::format("cd {} && gnuplot {} > {} 2>&1", shell_quote(dir), shell_quote(name + ".gp"),
                                      shell_quote(name + ".log"));
  const int status = std::system(cmd.c_str());
  const std::string messages = read_text(log);
  TD_CHECK(status == 0 && std::filesystem::exists(png) && std::filesystem::file_size(png) > 0, "save_figure",
           fmt::format("gnuplot failed on {}.gp (status {}):\n{}", base.string(), status, messages));
  // gnuplot's warnings (e.g. an empty range) do not fail the figure, but should be seen.
  if (!messages.empty()) fmt::print(stderr, "gnuplot warnings for {}.gp:\n{}", base.string(), messages);
  std::filesystem::remove(log);
  return png.string();
}

}  // namespace tinydiff::tutorial
