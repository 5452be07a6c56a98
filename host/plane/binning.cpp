// H(Bin(T)): the entropy of the grid cells a layer's noise-free representations occupy
// (docs/method.md#binning-and-clustering), the binned estimate of the SZT paper's
// information plane, for comparison with the SP estimate.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "infoflow/information_plane.hpp"

namespace infoflow {

double binned_entropy(MatrixView<double> s, double bin_size) {
  if (!(std::isfinite(bin_size) && bin_size > 0)) {
    throw InvalidArgument("bin size must be a finite number > 0, got " + std::to_string(bin_size));
  }
  if (s.rows == 0) throw InvalidArgument("binned entropy of an empty set");
  std::vector<std::int64_t> cell(s.rows * s.cols);
  for (std::size_t k = 0; k < cell.size(); ++k) {
    const double c = std::floor(s.data[k] / bin_size);
    if (!(std::abs(c) < 0x1p62)) {
      throw InvalidArgument("value " + std::to_string(s.data[k]) + " does not fit a grid of bin size " +
                            std::to_string(bin_size));
    }
    cell[k] = static_cast<std::int64_t>(c);
  }
  std::vector<std::size_t> order(s.rows);
  for (std::size_t i = 0; i < s.rows; ++i) order[i] = i;
  auto row = [&](std::size_t i) { return cell.begin() + i * s.cols; };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::lexicographical_compare(row(a), row(a) + s.cols, row(b), row(b) + s.cols);
  });
  double h = 0;
  const double m = static_cast<double>(s.rows);
  for (std::size_t i = 0; i < s.rows;) {
    std::size_t j = i + 1;
    while (j < s.rows && std::equal(row(order[i]), row(order[i]) + s.cols, row(order[j]))) ++j;
    const double p = (j - i) / m;
    h -= p * std::log(p);
    i = j;
  }
  return h;
}

namespace {

// -sum_c (m_c/m) ln(m_c/m) over the distinct rows of `cells` (rows x cols), restricted to
// the rows listed in `rows`.
double cell_entropy(const std::vector<std::int64_t>& cells, std::size_t cols, std::vector<std::size_t> rows) {
  auto row = [&](std::size_t i) { return cells.begin() + i * cols; };
  std::sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) {
    return std::lexicographical_compare(row(a), row(a) + cols, row(b), row(b) + cols);
  });
  double h = 0;
  const double m = static_cast<double>(rows.size());
  for (std::size_t i = 0; i < rows.size();) {
    std::size_t j = i + 1;
    while (j < rows.size() && std::equal(row(rows[i]), row(rows[i]) + cols, row(rows[j]))) ++j;
    const double p = (j - i) / m;
    h -= p * std::log(p);
    i = j;
  }
  return h;
}

}  // namespace

BinnedInformation binned_information(MatrixView<double> s, Span<const std::int64_t> labels, std::size_t num_bins) {
  if (num_bins < 1) throw InvalidArgument("binned information needs at least 1 bin");
  if (s.rows == 0 || s.cols == 0) throw InvalidArgument("binned information of an empty set");
  if (!labels.empty() && labels.size != s.rows) {
    throw InvalidArgument("labels have " + std::to_string(labels.size) + " entries for " + std::to_string(s.rows) +
                          " representations");
  }
  const std::size_t n = s.rows * s.cols;
  const auto [lo_it, hi_it] = std::minmax_element(s.data, s.data + n);
  const double lo = *lo_it, hi = *hi_it;
  if (!std::isfinite(lo) || !std::isfinite(hi)) throw InvalidArgument("binned information of non-finite values");
  std::vector<std::int64_t> cells(n, 0);
  if (hi > lo) {
    const double bins = static_cast<double>(num_bins);
    for (std::size_t k = 0; k < n; ++k) {
      // The largest value belongs to the last bin, as numpy.histogram's closed last edge.
      const double b = std::floor((s.data[k] - lo) / (hi - lo) * bins);
      cells[k] = static_cast<std::int64_t>(std::min(b, bins - 1));
    }
  }
  std::vector<std::size_t> all(s.rows);
  for (std::size_t i = 0; i < s.rows; ++i) all[i] = i;
  BinnedInformation r;
  r.I_XT_nats = cell_entropy(cells, s.cols, all);
  if (labels.empty()) {
    r.I_YT_nats = EntropyResult::kNaN;
    return r;
  }
  std::map<std::int64_t, std::vector<std::size_t>> classes;
  for (std::size_t i = 0; i < s.rows; ++i) classes[labels[i]].push_back(i);
  double conditional = 0;
  for (const auto& [y, rows] : classes) {
    conditional += static_cast<double>(rows.size()) / static_cast<double>(s.rows) * cell_entropy(cells, s.cols, rows);
  }
  r.I_YT_nats = r.I_XT_nats - conditional;
  return r;
}

}  // namespace infoflow
