// Backward pass of the mixture log-density: the gradients of L = sum_i grad_i log g(q_i)
// with respect to queries, centres, weights and sigma, streamed over the same pairs as the
// forward pass without forming the m x n matrix (memory O((m + n) d)). Each backend runs
// the sweep of host/backward_sweep.hpp; the scalar one (the reference) is here.
//
// Two sweeps, each deterministic whatever the thread count:
//  1. queries own, centres are swept: per query the softmax sums S_i = sum_j exp(e_ij - L_i),
//     sum_j exp(e_ij - L_i) (q_i - c_j) and sum_j exp(e_ij - L_i) ||q_i - c_j||^2, with
//     L_i the forward's log-sum-exp as the shift. Dividing by S_i normalises them exactly,
//     so the float32 forward's error (up to 1e-5 (1 + |L_i|), docs/method.md#sigma-units-
//     and-float32-accuracy) does not reach the gradient, and L_i + log S_i is the float64
//     log-sum-exp the second sweep needs. One exp per pair: the shift is already close to
//     the maximum, so no running maximum is kept.
//  2. centres own, queries are swept (only when centre or weight gradients are asked
//     for): each centre gathers its sums over all queries with the refined L_i. A thread
//     owns its centres' accumulators, so no per-thread copies of the n x d gradient and no
//     reduction order.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backward_sweep.hpp"
#include "infoflow/infoflow.hpp"
#include "lse_dispatch.hpp"

namespace infoflow {

namespace {

// Owners per block and swept rows per tile in the scalar sweep: a tile of swept rows stays
// in L1/L2 while the block's owners pass over it.
constexpr std::size_t kOwnerBlock = 16;
constexpr std::size_t kSweptTile = 64;

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

void run_sweep(Backend b, const detail::BackwardSweep& s) {
  switch (b) {
    case Backend::Reference:
      detail::backward_sweep_reference(s);
      return;
    case Backend::Cuda:
      detail::backward_sweep_cuda(s);
      return;
    default:
      detail::backward_sweep_cpu(s);
  }
}

}  // namespace

namespace detail {

void backward_sweep_reference(const BackwardSweep& p) {
  const std::size_t d = p.d, blocks = (p.n_owners + kOwnerBlock - 1) / kOwnerBlock;
  const double alpha = 1 / (2 * p.sigma * p.sigma), inv_s = 1 / p.sigma, inv_s2 = inv_s * inv_s;
  const int nt = cpu_threads(p.threads);
#pragma omp parallel num_threads(nt)
  {
    std::vector<double> acc(kOwnerBlock * d), s(kOwnerBlock), b(kOwnerBlock);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t blk = 0; blk < blocks; ++blk) {
      const std::size_t o0 = blk * kOwnerBlock, o1 = std::min(p.n_owners, o0 + kOwnerBlock);
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(s.begin(), s.end(), 0.0);
      std::fill(b.begin(), b.end(), 0.0);
      for (std::size_t j0 = 0; j0 < p.n_swept; j0 += kSweptTile) {
        const std::size_t j1 = std::min(p.n_swept, j0 + kSweptTile);
        for (std::size_t o = o0; o < o1; ++o) {
          const double shift = p.b_owner != nullptr ? p.b_owner[o] : 0.0;
          if (shift == -HUGE_VAL) continue;
          const double* xo = p.owners + o * d;
          double* a = acc.data() + (o - o0) * d;
          double so = 0, bo = 0;
          for (std::size_t j = j0; j < j1; ++j) {
            const double* xs = p.swept + j * d;
            const double dist2 = squared_distance(xo, xs, d);
            const double e = p.a_swept[j] + shift - alpha * dist2;
            if (!(e >= kMinExponent)) continue;
            const double t = (p.f_swept != nullptr ? p.f_swept[j] : 1.0) * std::exp(e);
            so += t;
            bo += t * dist2;
            if (p.A != nullptr) {
              for (std::size_t k = 0; k < d; ++k) a[k] += t * (xo[k] - xs[k]);
            }
          }
          s[o - o0] += so;
          b[o - o0] += bo;
        }
      }
      for (std::size_t o = o0; o < o1; ++o) {
        p.S[o] = s[o - o0];
        if (p.B != nullptr) p.B[o] = b[o - o0] * inv_s2;
        if (p.A != nullptr) {
          for (std::size_t k = 0; k < d; ++k) p.A[o * d + k] = acc[(o - o0) * d + k] * inv_s;
        }
      }
    }
  }
}

}  // namespace detail

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
  const Backend backend = resolve_backend(opt.backend);

  const double log_norm = 0.5 * static_cast<double>(d) * std::log(2 * M_PI * sigma * sigma);
  std::vector<double> log_w(n), w(n);
  for (std::size_t j = 0; j < n; ++j) {
    w[j] = weights.empty() ? 1.0 / static_cast<double>(n) : weights[j];
    log_w[j] = std::log(w[j]);  // -inf for a zero weight: its terms are exp(-inf) = 0
  }

  // ---- sweep 1: queries own ----
  std::vector<double> shift(m), s(m), b(m);
  for (std::size_t i = 0; i < m; ++i) {
    // A query whose upstream gradient is 0 contributes nothing anywhere: skipped.
    shift[i] = grad[i] == 0 ? -HUGE_VAL : -(log_density[i] + log_norm);
  }
  detail::BackwardSweep s1;
  s1.owners = queries.data, s1.n_owners = m, s1.swept = centers.data, s1.n_swept = n, s1.d = d;
  s1.sigma = sigma, s1.a_swept = log_w.data(), s1.b_owner = shift.data();
  s1.S = s.data(), s1.B = b.data(), s1.A = out.queries.empty() ? nullptr : out.queries.data;
  s1.threads = opt.threads, s1.cuda_device = opt.cuda_device;
  run_sweep(backend, s1);

  std::vector<double> lse(m, 0.0);
  double grad_sigma = 0;  // summed in query order: the same bits for every thread count
  for (std::size_t i = 0; i < m; ++i) {
    if (grad[i] == 0) {
      if (!out.queries.empty()) std::fill_n(out.queries.data + i * d, d, 0.0);
      continue;
    }
    const double log_s = std::log(s[i]);
    if (!(std::abs(log_s) <= kMaxShiftError)) {
      throw InvalidArgument("log_density[" + std::to_string(i) + "] = " + std::to_string(log_density[i]) +
                            " is not the log-density of query " + std::to_string(i) +
                            " under these centres, weights and sigma: pass the values log_density "
                            "returned for the same inputs");
    }
    lse[i] = log_density[i] + log_norm + log_s;
    grad_sigma += grad[i] * (b[i] / s[i] - static_cast<double>(d)) / sigma;
    if (!out.queries.empty()) {
      double* gq = out.queries.data + i * d;
      const double f = -grad[i] / (s[i] * sigma);
      for (std::size_t k = 0; k < d; ++k) gq[k] *= f;
    }
  }

  // ---- sweep 2: centres own ----
  if (out.centers.empty() && out.weights.empty()) return grad_sigma;
  // Without log w_j: d log g / d w_j = exp(-alpha dist2) / sum, defined for w_j = 0 too.
  std::vector<double> a2(m), gw(n);
  for (std::size_t i = 0; i < m; ++i) a2[i] = -lse[i];
  detail::BackwardSweep s2;
  s2.owners = centers.data, s2.n_owners = n, s2.swept = queries.data, s2.n_swept = m, s2.d = d;
  s2.sigma = sigma, s2.a_swept = a2.data(), s2.f_swept = grad.data;
  s2.S = out.weights.empty() ? gw.data() : out.weights.data;
  s2.A = out.centers.empty() ? nullptr : out.centers.data;
  s2.threads = opt.threads, s2.cuda_device = opt.cuda_device;
  run_sweep(backend, s2);
  if (!out.centers.empty()) {
    for (std::size_t j = 0; j < n; ++j) {
      const double f = -w[j] / sigma;
      for (std::size_t k = 0; k < d; ++k) out.centers.data[j * d + k] *= f;
    }
  }
  return grad_sigma;
}

}  // namespace infoflow
