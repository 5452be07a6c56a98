// The float64 truth every fast path is tested against: two plain passes per query.
#include <cmath>
#include <limits>
#include <vector>

#include "lse_implementations.hpp"

namespace infoflow::detail {

void lse_reference(const double* queries, std::size_t m, const double* centers, std::size_t n,
                   const double* log_w, std::size_t d, double alpha, double* out) {
  std::vector<double> e(n);
  for (std::size_t i = 0; i < m; ++i) {
    const double* q = queries + i * d;
    double max_e = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < n; ++j) {
      const double* c = centers + j * d;
      double dist2 = 0;
      for (std::size_t k = 0; k < d; ++k) {
        const double diff = q[k] - c[k];
        dist2 += diff * diff;
      }
      e[j] = log_w[j] - alpha * dist2;
      if (e[j] > max_e) max_e = e[j];
    }
    if (max_e == -std::numeric_limits<double>::infinity()) {
      out[i] = max_e;  // every weight is zero
      continue;
    }
    double sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += std::exp(e[j] - max_e);
    out[i] = max_e + std::log(sum);
  }
}

}  // namespace infoflow::detail
