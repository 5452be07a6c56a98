// Internal: validation, the move to "sigma units", and the one switch over backends.
#pragma once

#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"
#include "lse_implementations.hpp"

namespace infoflow::detail {

// Throws InvalidArgument naming `what` for an empty matrix or a non-finite entry.
void check_matrix(MatrixView<double> x, const char* what);
// Throws InvalidArgument unless weights is empty or n finite non-negative numbers summing to 1.
void check_weights(Span<const double> weights, std::size_t n, const char* what = "weights",
                   const char* per = "centres");
// Throws InvalidArgument unless v is finite and > 0.
void check_positive(double v, const char* what);
// Throws InvalidArgument unless threads is in [0, kMaxThreads] and the pruning tolerance
// in [0, 1). Every estimator calls it on entry, before its first collective call (MPI): a
// rank that owns no queries never reaches lse_dispatch, so a check only there could leave
// the other ranks waiting.
void check_compute(const ComputeOptions& opt);

// Centers ready for every backend: the raw float64 view and log-weights for the
// reference; for the fast backends, (c - mean) / scale in float32 and float32
// log-weights shifted so the largest is 0 (the shift kept in float64).
struct PreparedCenters {
  MatrixView<double> raw;
  std::vector<double> log_w;  // log w_j, float64
  std::vector<double> mean;
  double scale = 1;
  std::vector<float> centers;
  std::vector<float> log_w_shifted;
  double log_w_offset = 0;
};
PreparedCenters prepare_centers(MatrixView<double> centers, Span<const double> weights,
                                double scale, Backend backend);

// out[i] = log sum_j w_j exp(-alpha ||q_i - c_j||^2) on a resolved backend (not Auto),
// over all centres, or per segment (centre offsets index rows of c).
void lse_dispatch(Backend backend, const PreparedCenters& c, MatrixView<double> queries,
                  double alpha, double* out, const ComputeOptions& opt, const ProgressFn& progress,
                  SegmentsView segments = {});

}  // namespace infoflow::detail
