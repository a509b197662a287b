// Printing tensors, PyTorch-style. See format.h.
//
// Three passes over the shown elements (at most 3 at each end of every axis):
// collect the values in print order, format them to one common width, then nest them in
// brackets, one row per line and a blank line between 2-d blocks, as torch does.
#include "tensor/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace tinydiff {

namespace {

constexpr int64_t kEdge = 3;   // entries shown at each end of an elided axis
constexpr int64_t kGap = -1;   // marks the "..." position in an index list
constexpr size_t kIndent = 7;  // strlen("tensor(")

// Indices of an axis of extent n to print, with kGap where entries are left out.
std::vector<int64_t> shown_indices(int64_t n) {
  std::vector<int64_t> idx;
  if (n > 2 * kEdge) {
    for (int64_t i = 0; i < kEdge; ++i) idx.push_back(i);
    idx.push_back(kGap);
    for (int64_t i = n - kEdge; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

class Printer {
 public:
  explicit Printer(const Tensor& t) : t_(t) {
    for (int64_t d : t.shape()) axes_.push_back(shown_indices(d));
  }

  std::string print() {
    collect(0, 0);
    format_cells();
    next_ = 0;
    return nest(0, kIndent);
  }

 private:
  // Pass 1: the storage offsets (relative to element (0, ..., 0)) of the shown elements, in print order.
  void collect(int64_t axis, int64_t off) {
    if (axis == t_.dim()) {
      offsets_.push_back(off);
      return;
    }
    for (int64_t i : axes_[axis])
      if (i != kGap) collect(axis + 1, off + i * t_.strides()[axis]);
  }

  // Pass 2: one string per shown element, right-aligned to a common width.
  void format_cells() {
    if (t_.dtype() == DType::I64) {
      const int64_t* p = t_.data<int64_t>();
      for (int64_t off : offsets_) cells_.push_back(fmt::format("{}", p[off]));
    } else {
      std::vector<double> v;
      v.reserve(offsets_.size());
      if (t_.dtype() == DType::F32) {
        const float* p = t_.data<float>();
        for (int64_t off : offsets_) v.push_back(p[off]);
      } else {
        const double* p = t_.data<double>();
        for (int64_t off : offsets_) v.push_back(p[off]);
      }
      // torch's rule: scientific notation when the finite nonzero magnitudes span more than
      // 1e3, exceed 1e8 or go below 1e-4; otherwise fixed with 4 decimals.
      double lo = INFINITY, hi = 0;
      for (double x : v) {
        if (!std::isfinite(x) || x == 0) continue;
        lo = std::min(lo, std::fabs(x));
        hi = std::max(hi, std::fabs(x));
      }
      const bool sci = hi > 0 && (hi / lo > 1e3 || hi > 1e8 || lo < 1e-4);
      for (double x : v) {
        if (std::isnan(x))
          cells_.push_back("nan");
        else if (std::isinf(x))
          cells_.push_back(x > 0 ? "inf" : "-inf");
        else
          cells_.push_back(sci ? fmt::format("{:.4e}", x) : fmt::format("{:.4f}", x));
      }
    }
    size_t width = 0;
    for (const auto& c : cells_) width = std::max(width, c.size());
    for (auto& c : cells_) c.insert(0, width - c.size(), ' ');
  }

  // Pass 3: brackets from `axis` inwards; `indent` is the column of this level's '['.
  std::string nest(int64_t axis, size_t indent) {
    if (axis == t_.dim()) return cells_[next_++];
    const int64_t remaining = t_.dim() - axis;
    std::string sep = ",";
    if (remaining == 1) {
      sep += ' ';
    } else {
      sep.append(static_cast<size_t>(remaining - 1), '\n');
      sep.append(indent + 1, ' ');
    }
    std::string s = "[";
    bool first = true;
    for (int64_t i : axes_[axis]) {
      if (!first) s += sep;
      first = false;
      // torch writes the gap as " ..." within a row and "..." on a line of its own.
      if (i == kGap)
        s += remaining == 1 ? " ..." : "...";
      else
        s += nest(axis + 1, indent + 1);
    }
    return s + "]";
  }

  const Tensor& t_;
  std::vector<std::vector<int64_t>> axes_;
  std::vector<int64_t> offsets_;
  std::vector<std::string> cells_;
  size_t next_ = 0;
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const std::string values = t.numel() == 0 ? "[]" : Printer(t).print();
  return fmt::format("tensor({}, shape={}, dtype={})", values, shape_str(t.shape()), dtype_name(t.dtype()));
}

std::string group_thousands(int64_t n) {
  const std::string digits = std::to_string(n);
  const size_t sign = n < 0 ? 1 : 0;  // a leading '-' is not a digit
  std::string out = digits.substr(0, sign);
  for (size_t i = sign; i < digits.size(); ++i) {
    if (i > sign && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace tinydiff
