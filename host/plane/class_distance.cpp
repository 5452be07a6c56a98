// class_distance_ratio: mean same-class over mean different-class distance of m
// representations, all m (m - 1) / 2 pairs. With the SZT task's m = 4096 that is 8.4M
// distances per layer per tracked epoch; the scalar loop (a sqrt and a label branch per
// pair) was a quarter of a `train` run's time. Here a row i meets SIMD blocks of rows j,
// from the representations transposed to columns.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "plane/class_distance.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "infoflow/information_plane.hpp"

HWY_BEFORE_NAMESPACE();
namespace infoflow::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sums of the distances from row i to rows j > i, split by whether the labels agree.
// cols: d columns of `stride` values each (the m rows, then zeros up to a whole vector);
// label: the m labels as doubles, padded alike.
void RowDistanceSums(const double* HWY_RESTRICT cols, const double* HWY_RESTRICT label, std::size_t m,
                     std::size_t stride, std::size_t d, std::size_t i, double* same, double* diff,
                     std::size_t* n_same) {
  const hn::ScalableTag<double> dd;
  const std::size_t N = hn::Lanes(dd);
  const auto li = hn::Set(dd, label[i]);
  auto s = hn::Zero(dd), t = hn::Zero(dd);
  std::size_t count = 0;
  for (std::size_t j = i + 1; j < m; j += N) {
    auto d2 = hn::Zero(dd);
    for (std::size_t k = 0; k < d; ++k) {
      const auto diff_k = hn::Sub(hn::LoadU(dd, cols + k * stride + j), hn::Set(dd, cols[k * stride + i]));
      d2 = hn::MulAdd(diff_k, diff_k, d2);
    }
    const auto valid = hn::FirstN(dd, m - j);  // the last block runs past row m - 1
    const auto dist = hn::IfThenElseZero(valid, hn::Sqrt(d2));
    const auto same_class = hn::And(valid, hn::Eq(hn::LoadU(dd, label + j), li));
    s = hn::Add(s, hn::IfThenElseZero(same_class, dist));
    t = hn::Add(t, hn::IfThenZeroElse(same_class, dist));
    count += hn::CountTrue(dd, same_class);
  }
  *same = hn::GetLane(hn::SumOfLanes(dd, s));
  *diff = hn::GetLane(hn::SumOfLanes(dd, t));
  *n_same = count;
}

std::size_t DistanceLanes() { return hn::Lanes(hn::ScalableTag<double>()); }

}  // namespace infoflow::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace infoflow {
namespace detail {
HWY_EXPORT(RowDistanceSums);
HWY_EXPORT(DistanceLanes);
}  // namespace detail

double class_distance_ratio(MatrixView<double> s, Span<const std::int64_t> labels) {
  if (labels.size != s.rows) {
    throw InvalidArgument("labels have " + std::to_string(labels.size) + " entries for " + std::to_string(s.rows) +
                          " representations");
  }
  const std::size_t m = s.rows, d = s.cols, lanes = HWY_DYNAMIC_DISPATCH(detail::DistanceLanes)();
  const std::size_t stride = (m + lanes - 1) / lanes * lanes + lanes;  // a whole vector past any j < m
  std::vector<double> cols(d * stride, 0.0), label(stride, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t k = 0; k < d; ++k) cols[k * stride + i] = s.data[i * d + k];
    label[i] = static_cast<double>(labels[i]);  // exact: labels are small class numbers
  }
  // Per-row sums, added in row order afterwards: the same bits whatever the thread count
  // and schedule (an OpenMP reduction adds in whatever order threads finish), so train,
  // measure_checkpoint and the Python tracker print the same ratio for the same network.
  std::vector<double> row_same(m), row_diff(m);
  std::vector<std::size_t> row_n_same(m);
#pragma omp parallel for schedule(dynamic, 16) num_threads(cpu_threads(0))
  for (std::size_t i = 0; i < m; ++i) {
    HWY_DYNAMIC_DISPATCH(detail::RowDistanceSums)(cols.data(), label.data(), m, stride, d, i, &row_same[i],
                                                  &row_diff[i], &row_n_same[i]);
  }
  double same = 0, diff = 0;
  std::size_t n_same = 0;
  for (std::size_t i = 0; i < m; ++i) same += row_same[i], diff += row_diff[i], n_same += row_n_same[i];
  const std::size_t n_diff = m * (m - 1) / 2 - n_same;
  if (n_same == 0 || n_diff == 0 || diff == 0) return std::numeric_limits<double>::quiet_NaN();
  return (same / n_same) / (diff / n_diff);
}

}  // namespace infoflow
#endif  // HWY_ONCE
