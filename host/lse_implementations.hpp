// Internal: the three implementations of the Gaussian log-sum-exp primitive.
//
// The fast backends (cpu, cuda) take data already "in sigma units": centred on the
// centres' mean and divided by the length scale in float64, then rounded to float32.
// That keeps float32 direct differences well inside their range for any sigma and
// any data offset. The reference takes raw float64 data and is the truth.
#pragma once

#include <cstddef>
#include <string>

#include "infoflow/infoflow.hpp"

namespace infoflow::detail {

// The fast backends work in log2 units (one exp2 per pair): log2(e) folds into alpha and
// the log-weights once, ln 2 brings the result back.
constexpr double kLog2e = 1.4426950408889634074;
constexpr double kLn2 = 0.69314718055994530942;

struct LseProblemF32 {
  const float* queries = nullptr;  // m x d, row-major
  std::size_t m = 0;
  const float* centers = nullptr;  // n x d, row-major
  std::size_t n = 0;
  const float* log_weights = nullptr;  // n entries, log w_j (-inf allowed for w_j = 0)
  std::size_t d = 0;
  float alpha = 0.5f;  // exponent is log w_j - alpha * ||q_i - c_j||^2
  // > 0: skip centre tiles whose terms provably add less than this fraction of the sum
  // (so each log-sum-exp is low by at most `tolerance`); 0: every pair is evaluated.
  double tolerance = 0;
  CudaDistances cuda_distances = CudaDistances::Auto;  // the cuda backend's, for one mixture
  int cuda_device = -1;                                  // ComputeOptions::cuda_device
};

// Segment s pairs queries [query_offsets[s], query_offsets[s + 1]) with centres
// [center_offsets[s], center_offsets[s + 1]): many small mixtures (the conditional
// entropies of the SP estimator) in one call. count == 0 means one segment of everything.
struct SegmentsView {
  const std::size_t* query_offsets = nullptr;   // count + 1 entries
  const std::size_t* center_offsets = nullptr;  // count + 1 entries
  std::size_t count = 0;
};

// out[i] = log sum_j exp(log_w[j] - alpha ||q_i - c_j||^2), all float64, two passes
// per query (max, then sum): obviously correct.
void lse_reference(const double* queries, std::size_t m, const double* centers, std::size_t n,
                   const double* log_w, std::size_t d, double alpha, double* out);

// SIMD + threads, online (running-max) log-sum-exp over centre tiles.
void lse_cpu(const LseProblemF32& p, SegmentsView segments, double* out, int threads,
             const ProgressFn& progress);

// The same with pruning (p.tolerance > 0): centres and queries in k-d order, best-first
// over a box tree per segment (host/cpu/lse_cpu_pruned.cpp).
// Returns false, having written nothing, when a probe shows pruning would not pay.
bool lse_cpu_pruned(const LseProblemF32& p, SegmentsView segments, double* out, int threads,
                    const ProgressFn& progress);

// Whether pruning can pay for p (log2 units, as lse_cpu_pruned), judged on a few queries
// before anything is ordered: false when most centres are within log2(tolerance / n) of
// their largest term, so no correct pruning could skip them. Both fast backends ask it.
bool pruning_can_pay(const LseProblemF32& p, SegmentsView segments);

// The float32 lanes of the SIMD target the cpu backend dispatches to (its name:
// infoflow::cpu_simd_target()).
std::size_t cpu_simd_lanes();

// Tiled CUDA kernel. Throws ResourceError when no device is usable or memory runs out.
// Segmented: one launch covers every segment, every pair exact. One mixture with
// p.tolerance > 0: pruned by per-block tile lists where they pay (cuda/tile_lists.hpp).
void lse_cuda(const LseProblemF32& p, SegmentsView segments, double* out,
              const ProgressFn& progress);

// mixture_entropy on the cuda backend with the Monte Carlo draws made on the device too:
// the host centres go up once (float64) and mixture_entropy_on_device's estimator runs on
// them, under ComputeOptions::cuda_device. For exact, one-process estimates (pruning needs
// the queries k-d ordered on the host).
EntropyResult mixture_entropy_drawn_on_device(MatrixView<double> centers, Span<const double> weights,
                                              const EntropyOptions& opt);

// True when the CUDA backend is compiled in and a device answers. Never throws; on
// false, *reason says why.
bool cuda_device_usable(std::string* reason);

}  // namespace infoflow::detail
