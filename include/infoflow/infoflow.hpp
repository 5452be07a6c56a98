// infoflow: differential entropy of Gaussian mixtures and the information flow of
// noisy neural networks (Goldfeld et al., ICML 2019).
//
// The one primitive behind everything is a Gaussian-kernel log-sum-exp
//     LSE_i = log sum_j w_j exp(-alpha * ||q_i - c_j||^2)
// over m query rows and n centre rows. The Monte Carlo entropy, the pairwise
// (Kolchinsky-Tracey) bounds and the mixture log-density are all that primitive with a
// different alpha and different queries. Every backend (float64 reference, SIMD CPU,
// CUDA) computes it without ever forming the m x n matrix.
//
// This header is the whole public API: plain structs and views, no CUDA types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace infoflow {

std::string_view version();

// ---- errors -------------------------------------------------------------------------
// Everything the library throws derives from Error; the message names the input and the
// problem, ready to print as one line.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct InvalidArgument : Error {  // bad shape, value, option
  using Error::Error;
};
struct IoError : Error {  // unreadable, truncated or malformed file
  using Error::Error;
};
struct ResourceError : Error {  // does not fit in memory, device failure
  using Error::Error;
};

// ---- views --------------------------------------------------------------------------
// Non-owning row-major (C order) matrix: rows x cols, element (i, k) at data[i*cols + k].
template <class T>
struct MatrixView {
  const T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
};

template <class T>
struct Span {
  T* data = nullptr;
  std::size_t size = 0;
  T* begin() const { return data; }
  T* end() const { return data + size; }
  T& operator[](std::size_t i) const { return data[i]; }
  bool empty() const { return size == 0; }
};

// ---- backends -----------------------------------------------------------------------
enum class Backend {
  Auto,       // cuda when a usable device exists, else cpu
  Reference,  // float64 scalar loops: slow, the truth the others are tested against
  Cpu,        // float32 SIMD on direct differences, all cores, float64 final sums
  Cuda,       // tiled GPU kernel, same numerics as cpu
};
std::string_view backend_name(Backend b);
Backend parse_backend(std::string_view name);  // throws InvalidArgument
// True when the CUDA backend was compiled in and a device answers; never throws.
bool cuda_available();
// Why cuda_available() is false ("built without CUDA", "no CUDA driver", ...), or "".
std::string cuda_unavailable_reason();
// Resolves Auto to the backend that will run.
Backend resolve_backend(Backend requested);
// The cpu backend's team size for ComputeOptions::threads = requested: requested when
// > 0; for 0, OMP_NUM_THREADS when the user set it, else every core this process may run
// on. Not OpenMP's current default: a library loaded beside infoflow may have lowered it
// for the whole process (PyTorch sets it to its physical-core count at import: 1 on a
// 2-thread machine), and 0 promises every core.
int cpu_threads(int requested);
// The SIMD target the cpu backend dispatches to on this CPU ("AVX3_ZEN4", "AVX2", ...),
// chosen at run time; EntropyResult::simd_target records it for the runs it served.
std::string cpu_simd_target();

// Called with the fraction of work done, from the calling thread only.
using ProgressFn = std::function<void(double fraction)>;

// A group of processes sharing one job (the ranks of an MPI run; cli/mpi/ has the MPI
// implementation). Given one, every estimator splits its Monte Carlo queries among the
// ranks in blocks and merges the float64 partial sums, so each rank returns the result
// of the whole job: the same draws (Philox rows are global) and the same value as one
// process, up to the order of float64 additions. The library itself never calls MPI.
struct Communicator {
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: values[i] becomes the sum over ranks of values[i], on every rank.
  virtual void sum(double* values, std::size_t n) const = 0;
};

// Picks the GPU the cuda backend uses in this process (e.g. local rank % device count, one
// rank per GPU); false when CUDA is not built in or the index is not a device.
bool use_cuda_device(int index);
int cuda_device_count();  // 0 without CUDA or a driver

inline constexpr int kMaxThreads = 1024;

// How the cuda backend forms one mixture's squared distances. Auto: the direct tiled
// kernel (where a float64 GEMM overtakes it has not been measured on a GPU yet); Direct:
// always that; Gemm: ||q||^2 + ||c||^2 - 2 q.c with the dot products from a float64 cuBLAS
// GEMM (for large d), falling back to the direct kernel where cuBLAS cannot be loaded or
// its buffers do not fit. Other backends ignore it.
enum class CudaDistances { Auto, Direct, Gemm };

struct ComputeOptions {
  Backend backend = Backend::Auto;
  const Communicator* comm = nullptr;  // null: this process does the whole job
  // cpu backend: 0 = all hardware threads, at most kMaxThreads (OpenMP puts per-thread
  // team data on the caller's stack: ~10^5 threads overflow it and crash).
  int threads = 0;
  // Pruning of far centre tiles: each log-sum-exp may be low by at most `tolerance`
  // (relative error of the sum, a proven bound); 0 evaluates every pair exactly. The
  // reference backend is always exact.
  double tolerance = 1e-6;
  CudaDistances cuda_distances = CudaDistances::Auto;
  // The cuda backend's GPU for this call: -1 the calling thread's current one (see
  // use_cuda_device), else that index; the caller's current device is left as it was.
  // Data already in GPU memory (the *_on_device calls) runs on the device holding it.
  int cuda_device = -1;
  ProgressFn progress;
};

// ---- the primitive --------------------------------------------------------------------
// out[i] = log sum_j w_j exp(-alpha ||q_i - c_j||^2), w_j = weights[j] (uniform 1/n when
// weights is empty). queries m x d, centers n x d, out has m entries. Returns the
// backend that ran.
Backend log_sum_exp_gaussian(MatrixView<double> queries, MatrixView<double> centers,
                             Span<const double> weights, double alpha, Span<double> out,
                             const ComputeOptions& opt = {});

// Log-density of the mixture g = sum_j w_j N(c_j, sigma^2 I) at each query row: the
// quantity scikit-learn's KernelDensity.score_samples returns.
Backend log_density(MatrixView<double> queries, MatrixView<double> centers,
                    Span<const double> weights, double sigma, Span<double> out,
                    const ComputeOptions& opt = {});

// ---- gradients --------------------------------------------------------------------------
// Where log_density_backward writes, each allocated by the caller; an empty span skips
// that gradient (skipping both centers and weights skips the second pass).
struct LogDensityGradients {
  Span<double> queries;  // m x d, row-major
  Span<double> centers;  // n x d, row-major
  Span<double> weights;  // n
};

// Backward pass of log_density: for L = sum_i grad[i] * log g(q_i), writes dL/dq, dL/dc and
// dL/dw into `out` and returns dL/dsigma. `log_density` is what log_density returned for
// the same inputs (any backend or tolerance: the pass renormalises each query's softmax
// weights in float64, so the forward's float32 or pruning error does not reach the
// gradient; values off by more than 100 nats throw InvalidArgument).
// The weights' gradient is the partial derivative with each w_j free, not kept on the
// simplex: exp(-||q_i - c_j||^2 / (2 sigma^2)) / sum_k w_k exp(...), finite for w_j = 0 (a
// softmax parameterisation gets the constrained gradient through its own chain rule).
// Float64 on every backend, every pair evaluated (opt.tolerance is not used; on the cpu
// backends terms below e^-680 of a query's sum count as 0), memory O((m + n) d): opt.backend cpu (SIMD) or
// reference (scalar loops), each with opt.threads threads and a result that does not
// depend on the thread count; cuda (or auto with a usable device: the kernels of
// kernels/lse_backward.cu, on opt.cuda_device; queries and centres must fit in its
// memory, else ResourceError). No communicator.
double log_density_backward(MatrixView<double> queries, MatrixView<double> centers,
                            Span<const double> weights, double sigma, Span<const double> log_density,
                            Span<const double> grad, const LogDensityGradients& out,
                            const ComputeOptions& opt = {});

// ---- data already in GPU memory --------------------------------------------------------
enum class DType { Float32, Float64 };

// A row-major matrix in CUDA device (or managed) memory, e.g. a torch CUDA tensor's
// data_ptr(): element (i, k) at data + (i * row_stride + k) elements. No CUDA types.
struct DeviceMatrixView {
  const void* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_stride = 0;  // in elements, >= cols
  DType dtype = DType::Float32;
};

// log_density of queries and centres that live on a GPU, read there in place: no copy
// to the host and back. Runs the cuda backend on the pointers' device (it becomes the
// current device), every pair exact (pruning orders the data on the host, so it is for
// the host-memory API). Work streams on CUDA's legacy default stream: finish writing the
// inputs first (torch: torch.cuda.current_stream().synchronize()). weights and out are
// host memory. Throws ResourceError without a usable device, InvalidArgument for host
// pointers, bad shapes, NaN/inf or sigma <= 0.
void log_density_on_device(DeviceMatrixView queries, DeviceMatrixView centers,
                           Span<const double> weights, double sigma, Span<double> out,
                           const ProgressFn& progress = {});

// ---- mixture entropy ------------------------------------------------------------------
struct EntropyOptions {
  double sigma = 0;                   // component standard deviation, > 0
  std::size_t samples_per_center = 1;  // K Monte Carlo draws per centre
  std::uint64_t seed = 0;              // Philox key: same seed, same draws on every backend
  bool bounds = false;                 // also the Kolchinsky-Tracey pairwise bounds
  // Each draw y = c_i + sigma z scores -log g(y) - (|z|^2 - d)/2: the subtracted term has
  // mean 0 exactly (|z|^2 ~ chi^2_d), so the estimate stays unbiased, and it cancels the
  // chi^2 noise of the draw's own component, which dominates the Monte Carlo variance
  // when components are well separated or d is large. false: the plain estimator.
  bool control_variate = true;
  ComputeOptions compute;
};

struct EntropyResult {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double entropy_nats = kNaN;  // Monte Carlo estimate of h(g)
  double stderr_nats = kNaN;   // its standard error
  double kl_upper_nats = kNaN;            // with bounds only
  double bhattacharyya_lower_nats = kNaN;  // with bounds only
  std::size_t n = 0, d = 0;
  std::size_t samples = 0;  // Monte Carlo queries used: n * samples_per_center
  double sigma = 0;
  Backend backend = Backend::Cpu;  // the backend that ran
  std::string simd_target;  // the cpu backend's SIMD target when it ran, else ""
  double seconds = 0;
};

// h(g) for g = sum_i w_i N(c_i, sigma^2 I_d), in nats, by Monte Carlo: K draws
// y = c_i + sigma z per centre, h = -sum_i w_i mean_k log g(y_ik).
EntropyResult mixture_entropy(MatrixView<double> centers, Span<const double> weights,
                              const EntropyOptions& opt);
inline EntropyResult mixture_entropy(MatrixView<double> centers, const EntropyOptions& opt) {
  return mixture_entropy(centers, Span<const double>{}, opt);
}

// mixture_entropy of centres that live on a GPU (e.g. a torch CUDA tensor's rows), read
// there in place: the Monte Carlo draws y = c_i + sigma z are made on the device from the
// same Philox stream as on the host, so the estimate equals mixture_entropy's on the cuda
// backend with the same seed (up to float32 rounding). Every pair exact (opt.compute
// .tolerance unused); opt.compute.backend must be auto or cuda, and one process (no comm).
// weights are host memory. Throws as log_density_on_device does.
EntropyResult mixture_entropy_on_device(DeviceMatrixView centers, Span<const double> weights,
                                        const EntropyOptions& opt);

// Standard normals from infoflow's counter-based generator (Philox4x32-10) on a stream of
// their own (never the estimators' draws): out, rows x cols row-major, gets rows
// first_row .. first_row + rows - 1 of `seed`, each the same whichever call, thread or
// machine draws it. Reproducible data for examples and tools without a generator of their own.
void standard_normal_rows(std::uint64_t seed, std::uint64_t first_row, std::size_t rows, std::size_t cols,
                          double* out);

// The standard normals of mixture_entropy's Monte Carlo draws under `seed`: with K draws
// per centre, draw g is y = c_{g / K} + sigma z_g, z_g row g of these (the same on every
// backend, thread count and process count). Writes rows [row0, row0 + rows) into out
// (rows x d, row-major), e.g. for a differentiable estimate from the same draws
// (infoflow.torch.mixture_entropy). Throws InvalidArgument past row 2^40 or for a wrong size.
void monte_carlo_normals(std::uint64_t seed, std::uint64_t row0, std::size_t rows, std::size_t d,
                         Span<double> out);

// Entropy of one component, (d/2) log(2 pi e sigma^2).
double gaussian_entropy(std::size_t d, double sigma);

}  // namespace infoflow
