// Backward pass of the mixture log-density: the gradients of L = sum_i grad_i log g(q_i)
// with respect to queries, centres, weights and sigma, streamed over the same pairs as the
// forward pass without forming the m x n matrix (memory O((m + n) d)).
//
// Numerics: float64 throughout, direct differences q - c (never the ||q||^2 - 2 q.c +
// ||c||^2 expansion, which cancels at small sigma), every pair evaluated (no pruning: the
// forward's proven bound is on the sum, not on the gradient's weighted sums).
//
// Two passes, each deterministic whatever the thread count:
//  1. over query blocks: per query the softmax sums S_i = sum_j exp(e_ij - L_i),
//     sum_j exp(e_ij - L_i) (q_i - c_j) and sum_j exp(e_ij - L_i) ||q_i - c_j||^2, with
//     L_i the forward's log-sum-exp as the shift. Dividing by S_i normalises them exactly,
//     so the float32 forward's error (up to 1e-5 (1 + |L_i|), docs/method.md#sigma-units-
//     and-float32-accuracy) does not reach the gradient, and L_i + log S_i is the float64
//     log-sum-exp the second pass needs. One exp per pair: the shift is already close to
//     the maximum, so no running maximum is kept.
//  2. over centre blocks (only when centre or weight gradients are asked for): each centre
//     gathers its sums over all queries with the refined L_i. A thread owns its centres'
//     accumulators, so no per-thread copies of the n x d gradient and no reduction order.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"
#include "lse_dispatch.hpp"

namespace infoflow {

namespace {

// Centers per tile in pass 1 and queries per block in pass 2: a tile of rows stays in L1/L2
// while the other side's block sweeps it.
constexpr std::size_t kQueryBlock = 16;
constexpr std::size_t kCenterTile = 64;
constexpr std::size_t kCenterBlock = 16;

// A caller's log_density this far (in nats) from the float64 value is not the forward of
// these inputs: past a few hundred the shifted exponentials overflow or lose every term.
constexpr double kMaxShiftError = 100;

// ||a - b||^2 from direct differences, float64 (never the ||a||^2 - 2 a.b + ||b||^2 expansion).
double squared_distance(const double* a, const double* b, std::size_t d) {
  double s = 0;
  for (std::size_t k = 0; k < d; ++k) {
    const double diff = a[k] - b[k];
    s += diff * diff;
  }
  return s;
}

void check_out(Span<double> s, std::size_t size, const char* what) {
  if (!s.empty() && s.size != size) {
    throw InvalidArgument(std::string(what) + " has " + std::to_string(s.size) + " entries, expected " +
                          std::to_string(size) + " (or none, to skip it)");
  }
}

void check_finite(Span<const double> v, std::size_t m, const char* what) {
  if (v.size != m) {
    throw InvalidArgument(std::string(what) + " has " + std::to_string(v.size) + " entries for " +
                          std::to_string(m) + " queries");
  }
  for (std::size_t i = 0; i < m; ++i) {
    if (!std::isfinite(v[i])) {
      throw InvalidArgument(std::string(what) + ": non-finite value " + std::to_string(v[i]) +
                            " at index " + std::to_string(i));
    }
  }
}

}  // namespace

double log_density_backward(MatrixView<double> queries, MatrixView<double> centers,
                            Span<const double> weights, double sigma, Span<const double> log_density,
                            Span<const double> grad, const LogDensityGradients& out,
                            const ComputeOptions& opt) {
  detail::check_matrix(centers, "centers");
  detail::check_matrix(queries, "queries");
  detail::check_weights(weights, centers.rows);
  detail::check_positive(sigma, "sigma");
  detail::check_compute(opt);
  if (opt.comm != nullptr) {
    throw InvalidArgument("log_density_backward runs in one process: pass no communicator");
  }
  if (queries.cols != centers.cols) {
    throw InvalidArgument("queries have " + std::to_string(queries.cols) + " columns but centers have " +
                          std::to_string(centers.cols));
  }
  const std::size_t m = queries.rows, n = centers.rows, d = centers.cols;
  check_finite(log_density, m, "log_density");
  check_finite(grad, m, "grad");
  check_out(out.queries, m * d, "the queries' gradient");
  check_out(out.centers, n * d, "the centres' gradient");
  check_out(out.weights, n, "the weights' gradient");

  const double alpha = 1 / (2 * sigma * sigma), inv_s2 = 1 / (sigma * sigma);
  const double log_norm = 0.5 * static_cast<double>(d) * std::log(2 * M_PI * sigma * sigma);
  std::vector<double> log_w(n), w(n);
  for (std::size_t j = 0; j < n; ++j) {
    w[j] = weights.empty() ? 1.0 / static_cast<double>(n) : weights[j];
    log_w[j] = std::log(w[j]);  // -inf for a zero weight: its terms are exp(-inf) = 0
  }
  const double* q = queries.data;
  const double* c = centers.data;
  const int nt = opt.threads > 0 ? opt.threads : omp_get_max_threads();

  // ---- pass 1: per query ----
  std::vector<double> lse(m), sigma_part(m, 0.0);
  std::atomic<long long> bad_query{-1};
  const std::size_t query_blocks = (m + kQueryBlock - 1) / kQueryBlock;
#pragma omp parallel num_threads(nt)
  {
    std::vector<double> acc(kQueryBlock * d), s(kQueryBlock), b(kQueryBlock);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t blk = 0; blk < query_blocks; ++blk) {
      const std::size_t i0 = blk * kQueryBlock, i1 = std::min(m, i0 + kQueryBlock);
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(s.begin(), s.end(), 0.0);
      std::fill(b.begin(), b.end(), 0.0);
      for (std::size_t j0 = 0; j0 < n; j0 += kCenterTile) {
        const std::size_t j1 = std::min(n, j0 + kCenterTile);
        for (std::size_t i = i0; i < i1; ++i) {
          if (grad[i] == 0) continue;  // contributes nothing anywhere
          const double* qi = q + i * d;
          const double shift = log_density[i] + log_norm;
          double* a = acc.data() + (i - i0) * d;
          double si = 0, bi = 0;
          for (std::size_t j = j0; j < j1; ++j) {
            const double* cj = c + j * d;
            const double dist2 = squared_distance(qi, cj, d);
            const double t = std::exp(log_w[j] - alpha * dist2 - shift);
            if (t == 0) continue;
            si += t;
            bi += t * dist2;
            for (std::size_t k = 0; k < d; ++k) a[k] += t * (qi[k] - cj[k]);
          }
          s[i - i0] += si;
          b[i - i0] += bi;
        }
      }
      for (std::size_t i = i0; i < i1; ++i) {
        const double* a = acc.data() + (i - i0) * d;
        if (grad[i] == 0) {
          lse[i] = 0;
          if (!out.queries.empty()) std::fill_n(out.queries.data + i * d, d, 0.0);
          continue;
        }
        const double si = s[i - i0];
        const double log_s = std::log(si);
        if (!(std::abs(log_s) <= kMaxShiftError)) {
          long long expected = -1;
          bad_query.compare_exchange_strong(expected, static_cast<long long>(i));
          lse[i] = 0;
          continue;
        }
        lse[i] = log_density[i] + log_norm + log_s;
        sigma_part[i] = grad[i] * (b[i - i0] / si * inv_s2 / sigma - static_cast<double>(d) / sigma);
        if (!out.queries.empty()) {
          double* gq = out.queries.data + i * d;
          const double f = -grad[i] / si * inv_s2;
          for (std::size_t k = 0; k < d; ++k) gq[k] = f * a[k];
        }
      }
    }
  }
  if (bad_query >= 0) {
    const auto i = static_cast<std::size_t>(bad_query.load());
    throw InvalidArgument("log_density[" + std::to_string(i) + "] = " + std::to_string(log_density[i]) +
                          " is not the log-density of query " + std::to_string(i) +
                          " under these centres, weights and sigma: pass the values log_density "
                          "returned for the same inputs");
  }
  double grad_sigma = 0;
  for (std::size_t i = 0; i < m; ++i) grad_sigma += sigma_part[i];  // fixed order

  // ---- pass 2: per centre ----
  if (out.centers.empty() && out.weights.empty()) return grad_sigma;
  const std::size_t center_blocks = (n + kCenterBlock - 1) / kCenterBlock;
#pragma omp parallel num_threads(nt)
  {
    std::vector<double> acc(kCenterBlock * d), gw(kCenterBlock);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t blk = 0; blk < center_blocks; ++blk) {
      const std::size_t j0 = blk * kCenterBlock, j1 = std::min(n, j0 + kCenterBlock);
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(gw.begin(), gw.end(), 0.0);
      for (std::size_t i = 0; i < m; ++i) {
        if (grad[i] == 0) continue;
        const double* qi = q + i * d;
        for (std::size_t j = j0; j < j1; ++j) {
          const double* cj = c + j * d;
          const double dist2 = squared_distance(qi, cj, d);
          // Without log w_j: d log g / d w_j = exp(-alpha dist2) / sum, defined for w_j = 0 too.
          const double kern = std::exp(-alpha * dist2 - lse[i]);
          if (kern == 0) continue;
          gw[j - j0] += grad[i] * kern;
          const double t = grad[i] * w[j] * kern * inv_s2;
          if (t == 0) continue;
          double* a = acc.data() + (j - j0) * d;
          for (std::size_t k = 0; k < d; ++k) a[k] += t * (qi[k] - cj[k]);
        }
      }
      for (std::size_t j = j0; j < j1; ++j) {
        if (!out.centers.empty()) {
          std::copy_n(acc.data() + (j - j0) * d, d, out.centers.data + j * d);
        }
        if (!out.weights.empty()) out.weights[j] = gw[j - j0];
      }
    }
  }
  return grad_sigma;
}

}  // namespace infoflow
