// Single-linkage clusters of a layer's noise-free representations and their entropy
// (docs/method.md#compression-as-clustering): the value I(X;T) falls to when the clusters
// become indistinguishable under the noise.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "infoflow/information_plane.hpp"

namespace infoflow {

Clustering cluster_entropy(MatrixView<double> s, double radius) {
  if (!(std::isfinite(radius) && radius > 0)) {
    throw InvalidArgument("cluster radius must be a finite number > 0, got " + std::to_string(radius));
  }
  if (s.rows == 0) throw InvalidArgument("clustering of an empty set");
  const std::size_t m = s.rows, d = s.cols;
  std::vector<std::size_t> parent(m), order(m);
  for (std::size_t i = 0; i < m; ++i) parent[i] = order[i] = i;
  auto find = [&](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  // Sweep along the first coordinate: pairs further apart there than `radius` never join.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s.data[a * d] < s.data[b * d]; });
  const double r2 = radius * radius;
  for (std::size_t a = 0; a < m; ++a) {
    const double* p = s.data + order[a] * d;
    for (std::size_t b = a + 1; b < m; ++b) {
      const double* q = s.data + order[b] * d;
      if (q[0] - p[0] >= radius) break;
      double dist2 = 0;
      for (std::size_t k = 0; k < d && dist2 < r2; ++k) dist2 += (p[k] - q[k]) * (p[k] - q[k]);
      if (dist2 < r2) parent[find(order[a])] = find(order[b]);
    }
  }
  std::vector<std::size_t> size(m, 0);
  for (std::size_t i = 0; i < m; ++i) ++size[find(i)];
  Clustering c;
  for (std::size_t k : size) {
    if (k == 0) continue;
    ++c.clusters;
    const double p = static_cast<double>(k) / m;
    c.entropy -= p * std::log(p);
  }
  return c;
}

}  // namespace infoflow
