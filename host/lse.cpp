// The public log-sum-exp primitive and mixture log-density, and the backend switch that
// every estimator goes through.
#include <cmath>
#include <limits>
#include <string>

#include "segmented_entropy.hpp"
#include "lse_implementations.hpp"
#include "lse_dispatch.hpp"
#include "host_memory.hpp"

namespace infoflow::detail {

void check_matrix(MatrixView<double> x, const char* what) {
  if (x.rows == 0 || x.cols == 0 || x.data == nullptr) {
    throw InvalidArgument(std::string(what) + " is empty (" + std::to_string(x.rows) + " x " +
                          std::to_string(x.cols) + ")");
  }
  for (std::size_t i = 0; i < x.rows; ++i) {
    for (std::size_t k = 0; k < x.cols; ++k) {
      if (!std::isfinite(x.data[i * x.cols + k])) {
        throw InvalidArgument(std::string(what) + ": non-finite value " +
                              std::to_string(x.data[i * x.cols + k]) + " at row " +
                              std::to_string(i) + ", column " + std::to_string(k));
      }
    }
  }
}

void check_weights(Span<const double> weights, std::size_t n, const char* what, const char* per) {
  if (weights.empty()) return;
  const std::string name(what);
  if (weights.size != n) {
    throw InvalidArgument(name + " has " + std::to_string(weights.size) + " entries for " +
                          std::to_string(n) + " " + per);
  }
  double sum = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (!std::isfinite(weights[j]) || weights[j] < 0) {
      throw InvalidArgument(name + ": entry " + std::to_string(j) + " is " +
                            std::to_string(weights[j]) + ", expected a finite value >= 0");
    }
    sum += weights[j];
  }
  if (std::abs(sum - 1) > 1e-9 * n + 1e-12) {
    throw InvalidArgument(name + " sum to " + std::to_string(sum) + ", expected 1");
  }
}

void check_compute(const ComputeOptions& opt) {
  if (opt.threads < 0 || opt.threads > kMaxThreads) {
    throw InvalidArgument("threads must be between 0 (all cores) and " + std::to_string(kMaxThreads) +
                          ", got " + std::to_string(opt.threads));
  }
  if (opt.cuda_device < -1) {
    throw InvalidArgument("cuda_device must be -1 (the current device) or a device index, got " +
                          std::to_string(opt.cuda_device));
  }
  if (!(opt.tolerance >= 0 && opt.tolerance < 1)) {
    throw InvalidArgument("tolerance must be in [0, 1), got " + std::to_string(opt.tolerance));
  }
}

void check_positive(double v, const char* what) {
  if (!(std::isfinite(v) && v > 0)) {
    throw InvalidArgument(std::string(what) + " must be a finite number > 0, got " +
                          std::to_string(v));
  }
}

PreparedCenters prepare_centers(MatrixView<double> centers, Span<const double> weights,
                                double scale, Backend backend) {
  const std::size_t n = centers.rows, d = centers.cols;
  PreparedCenters p;
  p.raw = centers;
  p.scale = scale;
  p.log_w.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    p.log_w[j] = weights.empty() ? -std::log(static_cast<double>(n)) : std::log(weights[j]);
  }
  if (backend == Backend::Reference) return p;
  require_memory(static_cast<double>(n) * (d + 1) * (2 * sizeof(float)), "the float32 centres");
  p.mean.assign(d, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t k = 0; k < d; ++k) p.mean[k] += centers.data[j * d + k];
  }
  for (double& v : p.mean) v /= static_cast<double>(n);
  p.centers.resize(n * d);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t k = 0; k < d; ++k) {
      p.centers[j * d + k] = static_cast<float>((centers.data[j * d + k] - p.mean[k]) / scale);
    }
  }
  p.log_w_offset = -std::numeric_limits<double>::infinity();
  for (double lw : p.log_w) p.log_w_offset = std::max(p.log_w_offset, lw);
  p.log_w_shifted.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    p.log_w_shifted[j] = static_cast<float>(p.log_w[j] - p.log_w_offset);
  }
  return p;
}

void lse_dispatch(Backend backend, const PreparedCenters& c, MatrixView<double> queries,
                  double alpha, double* out, const ComputeOptions& opt, const ProgressFn& progress,
                  SegmentsView seg) {
  check_compute(opt);
  const std::size_t d = c.raw.cols, m = queries.rows;
  const std::size_t whole_q[2] = {0, m}, whole_c[2] = {0, c.raw.rows};
  if (seg.count == 0) seg = {whole_q, whole_c, 1};
  if (backend == Backend::Reference) {
    for (std::size_t s = 0; s < seg.count; ++s) {
      const std::size_t q0 = seg.query_offsets[s], c0 = seg.center_offsets[s];
      lse_reference(queries.data + q0 * d, seg.query_offsets[s + 1] - q0, c.raw.data + c0 * d,
                    seg.center_offsets[s + 1] - c0, c.log_w.data() + c0, d, alpha, out + q0);
    }
    if (progress) progress(1.0);
    return;
  }
  std::vector<float> q(m * d);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t k = 0; k < d; ++k) {
      q[i * d + k] = static_cast<float>((queries.data[i * d + k] - c.mean[k]) / c.scale);
    }
  }
  LseProblemF32 p;
  p.queries = q.data(), p.m = m;
  p.centers = c.centers.data(), p.n = c.raw.rows;
  p.log_weights = c.log_w_shifted.data(), p.d = d;
  p.alpha = static_cast<float>(alpha * c.scale * c.scale);
  p.tolerance = opt.tolerance;
  p.cuda_distances = opt.cuda_distances;
  p.cuda_device = opt.cuda_device;
  if (backend == Backend::Cuda) {
    lse_cuda(p, seg, out, progress);
  } else {
    lse_cpu(p, seg, out, opt.threads, progress);
  }
  for (std::size_t i = 0; i < m; ++i) out[i] += c.log_w_offset;
}

}  // namespace infoflow::detail

namespace infoflow {

Backend log_sum_exp_gaussian(MatrixView<double> queries, MatrixView<double> centers,
                             Span<const double> weights, double alpha, Span<double> out,
                             const ComputeOptions& opt) {
  detail::check_matrix(centers, "centers");
  detail::check_matrix(queries, "queries");
  detail::check_weights(weights, centers.rows);
  detail::check_positive(alpha, "alpha");
  if (queries.cols != centers.cols) {
    throw InvalidArgument("queries have " + std::to_string(queries.cols) +
                          " columns but centers have " + std::to_string(centers.cols));
  }
  if (out.size != queries.rows) {
    throw InvalidArgument("out has " + std::to_string(out.size) + " entries for " +
                          std::to_string(queries.rows) + " queries");
  }
  const Backend b = resolve_backend(opt.backend);
  const auto c = detail::prepare_centers(centers, weights, 1.0 / std::sqrt(2 * alpha), b);
  detail::lse_dispatch(b, c, queries, alpha, out.data, opt, opt.progress);
  return b;
}

namespace detail {

// The true value of a far query can lie below -1.8e308; -inf would be no answer.
void check_finite_log_density(Span<const double> out, double sigma) {
  for (std::size_t i = 0; i < out.size; ++i) {
    if (!std::isfinite(out[i])) {
      throw InvalidArgument("the log-density at query row " + std::to_string(i) + " is " +
                            (std::isnan(out[i]) ? std::string("undefined (NaN)") : "below -1.8e308, outside float64") +
                            ": the query is too far from every centre for sigma " + std::to_string(sigma));
    }
  }
}

}  // namespace detail

Backend log_density(MatrixView<double> queries, MatrixView<double> centers,
                    Span<const double> weights, double sigma, Span<double> out,
                    const ComputeOptions& opt) {
  detail::check_positive(sigma, "sigma");
  const Backend b =
      log_sum_exp_gaussian(queries, centers, weights, 1 / (2 * sigma * sigma), out, opt);
  const double log_norm = 0.5 * centers.cols * std::log(2 * M_PI * sigma * sigma);
  for (double& v : out) v -= log_norm;
  detail::check_finite_log_density({out.data, out.size}, sigma);
  return b;
}

}  // namespace infoflow
