// Differential entropy of a Gaussian mixture: the Monte Carlo estimator
// (docs/method.md#the-monte-carlo-estimator) and the Kolchinsky-Tracey pairwise bounds
// (docs/method.md#pairwise-bounds), both on the one log-sum-exp primitive.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "segmented_entropy.hpp"

namespace infoflow {
namespace {

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

// H_c - sum_i w_i log sum_j w_j exp(-||c_i - c_j||^2 * alpha): KL upper bound with
// alpha = 1/(2 sigma^2), Bhattacharyya lower bound with alpha = 1/(8 sigma^2).
double pairwise_bound(const detail::PreparedCenters& c, Span<const double> weights,
                      const EntropyOptions& opt, Backend b, double alpha,
                      const ProgressFn& progress, const detail::ResidentMixture* resident) {
  const std::size_t n = c.raw.rows, d = c.raw.cols;
  if (resident == nullptr) {
    std::vector<double> w(n, 1.0 / n);
    if (!weights.empty()) w.assign(weights.begin(), weights.end());
    return gaussian_entropy(d, opt.sigma) - detail::pairwise_log_sums(b, c, {0, n}, w, alpha, opt.compute, progress)[0];
  }
  std::vector<double> lse(n);  // one process (mixture_entropy_on_device refuses more)
  resident->score_centres(alpha, lse.data(), progress);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += (weights.empty() ? 1.0 / n : weights[i]) * lse[i];
  return gaussian_entropy(d, opt.sigma) - s;
}

}  // namespace

double gaussian_entropy(std::size_t d, double sigma) {
  return 0.5 * static_cast<double>(d) * std::log(2 * M_PI * M_E * sigma * sigma);
}

namespace detail {

std::vector<double> pairwise_log_sums(Backend b, const PreparedCenters& c,
                                      const std::vector<std::size_t>& center_offsets, const std::vector<double>& w,
                                      double alpha, const ComputeOptions& opt, const ProgressFn& progress) {
  const std::size_t n = c.raw.rows, d = c.raw.cols, count = center_offsets.size() - 1;
  // Across ranks: contiguous row ranges of the centres-as-queries, float64 sums.
  const std::size_t ranks = opt.comm ? static_cast<std::size_t>(opt.comm->size()) : 1;
  const std::size_t rank = opt.comm ? static_cast<std::size_t>(opt.comm->rank()) : 0;
  const std::size_t r0 = n * rank / ranks, r1 = n * (rank + 1) / ranks;
  std::vector<double> lse(r1 - r0), sums(count, 0.0);
  if (r1 > r0) {
    if (count == 1) {
      lse_dispatch(b, c, {c.raw.data + r0 * d, r1 - r0, d}, alpha, lse.data(), opt, progress);
    } else {
      // The segments this rank's rows reach, their queries clipped to [r0, r1).
      std::vector<std::size_t> query_offsets, segment_centers;
      for (std::size_t s = 0; s < count; ++s) {
        if (center_offsets[s + 1] <= r0 || center_offsets[s] >= r1) continue;
        if (query_offsets.empty()) {
          query_offsets.push_back(std::max(center_offsets[s], r0) - r0), segment_centers.push_back(center_offsets[s]);
        }
        query_offsets.push_back(std::min(center_offsets[s + 1], r1) - r0);
        segment_centers.push_back(center_offsets[s + 1]);
      }
      lse_dispatch(b, c, {c.raw.data + r0 * d, r1 - r0, d}, alpha, lse.data(), opt, progress,
                   {query_offsets.data(), segment_centers.data(), query_offsets.size() - 1});
    }
  }
  for (std::size_t s = 0, i = r0; s < count; ++s) {
    for (; i < std::min(center_offsets[s + 1], r1); ++i) sums[s] += w[i] * lse[i - r0];
  }
  if (ranks > 1) opt.comm->sum(sums.data(), sums.size());
  return sums;
}

EntropyResult mixture_entropy_estimate(const PreparedCenters& c, Span<const double> weights,
                                       const EntropyOptions& opt, Backend backend,
                                       const ResidentMixture* resident) {
  EntropyResult r;
  r.n = c.raw.rows, r.d = c.raw.cols, r.sigma = opt.sigma, r.backend = backend;
  if (backend == Backend::Cpu) r.simd_target = cpu_simd_target();
  const double n = static_cast<double>(r.n);
  ProgressSplitter progress{opt.compute.progress,
                            n * n * (static_cast<double>(opt.samples_per_center) + (opt.bounds ? 2 : 0))};
  QueryPlan plan;
  plan.per_center = opt.samples_per_center;
  plan.control_variate = opt.control_variate;
  const MixtureEstimate e =
      entropy_mc_segmented(backend, c, {0, r.n}, plan, opt.sigma, opt.seed, 0, opt.compute,
                           progress.part(n * n * static_cast<double>(opt.samples_per_center)), resident)[0];
  r.entropy_nats = e.entropy, r.stderr_nats = e.stderr, r.samples = e.queries;
  if (opt.bounds) {
    const double s2 = opt.sigma * opt.sigma;
    r.kl_upper_nats = pairwise_bound(c, weights, opt, backend, 1 / (2 * s2), progress.part(n * n), resident);
    r.bhattacharyya_lower_nats =
        pairwise_bound(c, weights, opt, backend, 1 / (8 * s2), progress.part(n * n), resident);
  }
  // Finite centres can still give a value outside float64 (the distances in units of
  // sigma overflow); such an estimate is refused, not printed.
  const auto refuse_non_finite = [](double v, const char* what) {
    if (!std::isfinite(v)) {
      throw InvalidArgument(std::string("the ") + what + " is " + (std::isnan(v) ? "not a number" : "infinite") +
                            ": the centres' distances in units of sigma are outside float64");
    }
  };
  refuse_non_finite(r.entropy_nats, "entropy estimate");
  if (opt.bounds) {
    refuse_non_finite(r.kl_upper_nats, "KL upper bound");
    refuse_non_finite(r.bhattacharyya_lower_nats, "Bhattacharyya lower bound");
  }
  return r;
}

}  // namespace detail

EntropyResult mixture_entropy(MatrixView<double> centers, Span<const double> weights,
                              const EntropyOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  detail::check_matrix(centers, "centers");
  detail::check_weights(weights, centers.rows);
  detail::check_positive(opt.sigma, "sigma");
  detail::check_compute(opt.compute);
  if (opt.samples_per_center < 1) {
    throw InvalidArgument("samples per center must be >= 1");
  }
  const Backend backend = resolve_backend(opt.compute.backend);
  if (backend == Backend::Cuda && opt.compute.tolerance == 0 &&
      (opt.compute.comm == nullptr || opt.compute.comm->size() == 1)) {
    // Exact, in one process: no queries drawn here and uploaded; the device draws them
    // from the same Philox rows (pruning would need them k-d ordered on the host).
    return detail::mixture_entropy_drawn_on_device(centers, weights, opt);
  }
  const auto c = detail::prepare_centers(centers, weights, opt.sigma, backend);
  detail::check_draw_resolution(c, opt.sigma, backend, "sigma");
  EntropyResult r = detail::mixture_entropy_estimate(c, weights, opt, backend);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace infoflow
