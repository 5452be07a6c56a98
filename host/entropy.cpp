// Differential entropy of a Gaussian mixture: the Monte Carlo estimator of PAPER.md §2.3
// and the Kolchinsky-Tracey pairwise bounds (§6), both on the one log-sum-exp primitive.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "lse_dispatch.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow {
namespace {

// Rows of Monte Carlo queries generated per pass: bounds the float64 staging buffer to
// about 128 MiB whatever d is, while keeping passes long enough to fill every core.
std::size_t chunk_rows(std::size_t d) {
  return std::clamp<std::size_t>((std::size_t{1} << 24) / d, 256, std::size_t{1} << 20);
}

// Weighted sums for the estimate and its standard error, in float64, shifted by a value
// near the mean so that the variance does not cancel.
struct MeanAccumulator {
  double shift = 0;
  bool has_shift = false;
  double sw = 0, swx = 0, sw2 = 0, sw2x = 0, sw2x2 = 0;
  std::size_t count = 0;
  void add(double w, double x) {
    if (!has_shift) shift = x, has_shift = true;
    const double y = x - shift;
    sw += w, swx += w * y, sw2 += w * w, sw2x += w * w * y, sw2x2 += w * w * y * y;
    ++count;
  }
  double mean() const { return shift + swx / sw; }
  // Standard error of the weighted mean sum_r w_r x_r (w summing to 1), treating the
  // draws as independent; with uniform weights this is sample std / sqrt(N).
  double standard_error() const {
    if (count < 2) return EntropyResult::kNaN;
    const double m = swx / sw;
    const double ss = std::max(0.0, sw2x2 - 2 * m * sw2x + m * m * sw2);
    return std::sqrt(ss * count / (count - 1.0));
  }
};

// Splits a long job's progress among its parts, weighted by their number of pairs.
struct ProgressSplitter {
  const ProgressFn& outer;
  double total_pairs, done_pairs = 0;
  ProgressFn part(double pairs) {
    if (!outer) return {};
    const double start = done_pairs;
    done_pairs += pairs;
    return [this, start, pairs](double f) { outer((start + f * pairs) / total_pairs); };
  }
};

void monte_carlo(const detail::PreparedCenters& c, Span<const double> weights,
                 const EntropyOptions& opt, Backend b, ProgressSplitter& progress,
                 EntropyResult& r) {
  const std::size_t n = c.raw.rows, d = c.raw.cols, K = opt.samples_per_center;
  const std::size_t total = n * K, rows = chunk_rows(d);
  const double log_norm = 0.5 * d * std::log(2 * M_PI * opt.sigma * opt.sigma);
  std::vector<double> queries(std::min(rows, total) * d), lse(std::min(rows, total)), z(d);
  MeanAccumulator acc;
  for (std::size_t r0 = 0; r0 < total; r0 += rows) {
    const std::size_t m = std::min(rows, total - r0);
    for (std::size_t r = 0; r < m; ++r) {
      const std::size_t i = (r0 + r) / K;
      rng::normal_row(opt.seed, rng::Stream::MonteCarloQueries, r0 + r, z.data(), d);
      for (std::size_t k = 0; k < d; ++k) {
        queries[r * d + k] = c.raw.data[i * d + k] + opt.sigma * z[k];
      }
    }
    detail::lse_dispatch(b, c, {queries.data(), m, d}, 1 / (2 * opt.sigma * opt.sigma),
                         lse.data(), opt.compute.threads,
                         progress.part(static_cast<double>(m) * n));
    for (std::size_t r = 0; r < m; ++r) {
      const std::size_t i = (r0 + r) / K;
      const double w = (weights.empty() ? 1.0 / n : weights[i]) / K;
      acc.add(w, -(lse[r] - log_norm));  // -log g(y)
    }
  }
  r.entropy_nats = acc.mean();
  r.stderr_nats = acc.standard_error();
  r.samples = total;
}

// H_c - sum_i w_i log sum_j w_j exp(-||c_i - c_j||^2 * alpha): KL upper bound with
// alpha = 1/(2 sigma^2), Bhattacharyya lower bound with alpha = 1/(8 sigma^2).
double pairwise_bound(const detail::PreparedCenters& c, Span<const double> weights,
                      const EntropyOptions& opt, Backend b, double alpha,
                      const ProgressFn& progress) {
  const std::size_t n = c.raw.rows;
  std::vector<double> lse(n);
  detail::lse_dispatch(b, c, c.raw, alpha, lse.data(), opt.compute.threads, progress);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += (weights.empty() ? 1.0 / n : weights[i]) * lse[i];
  return gaussian_entropy(c.raw.cols, opt.sigma) - s;
}

}  // namespace

double gaussian_entropy(std::size_t d, double sigma) {
  return 0.5 * static_cast<double>(d) * std::log(2 * M_PI * M_E * sigma * sigma);
}

EntropyResult mixture_entropy(MatrixView<double> centers, Span<const double> weights,
                              const EntropyOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  detail::check_matrix(centers, "centers");
  detail::check_weights(weights, centers.rows);
  detail::check_positive(opt.sigma, "sigma");
  if (opt.samples_per_center < 1) {
    throw InvalidArgument("samples per center must be >= 1");
  }
  EntropyResult r;
  r.n = centers.rows, r.d = centers.cols, r.sigma = opt.sigma;
  r.backend = resolve_backend(opt.compute.backend);
  const auto c = detail::prepare_centers(centers, weights, opt.sigma, r.backend);
  const double n = static_cast<double>(r.n);
  ProgressSplitter progress{opt.compute.progress,
                            n * n * (opt.samples_per_center + (opt.bounds ? 2 : 0))};
  monte_carlo(c, weights, opt, r.backend, progress, r);
  if (opt.bounds) {
    const double s2 = opt.sigma * opt.sigma;
    r.kl_upper_nats =
        pairwise_bound(c, weights, opt, r.backend, 1 / (2 * s2), progress.part(n * n));
    r.bhattacharyya_lower_nats =
        pairwise_bound(c, weights, opt, r.backend, 1 / (8 * s2), progress.part(n * n));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace infoflow
