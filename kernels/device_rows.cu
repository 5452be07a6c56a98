// Inputs already in GPU memory (log_density_on_device, mixture_entropy_on_device; e.g.
// torch CUDA tensors): centres and queries are read in place, float32 or float64 with any
// row stride, and moved to sigma units on the device (column means summed there in float64
// chunks); Monte Carlo queries are drawn on the device from the same Philox rows as on the
// host (kernels/philox_normal.cuh). Every row then goes through lse_dense.cu.
// Launch shapes: column_stats_kernel one block of 256 threads per 1024 rows (a thread per
// column); draw_rows_kernel a group of 2-32 lanes per query row (256 threads per block),
// grid-stride.
// Tests: DeviceInput.* (tests/test_device_input.cpp); bench: bench/gpu/torch_peer.py.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "segmented_entropy.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/lse_cuda.cuh"
#include "kernels/philox_normal.cuh"
#include "lse_implementations.hpp"
#include "lse_dispatch.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow::detail {
namespace {

// stats[(c * d + k) * 3 + {0, 1, 2}] = sum, min and max of column k over rows
// [c * chunk, (c + 1) * chunk): float64, combined on the host in a fixed order, so the mean
// does not depend on scheduling; min and max give the data's extent for the Monte Carlo
// draw check (check_draw_extent).
template <class T>
__global__ void column_stats_kernel(const T* __restrict__ src, long long rows, int d,
                                    long long stride, long long chunk, double* __restrict__ stats) {
  const long long c = blockIdx.x, r0 = c * chunk, r1 = min(rows, r0 + chunk);
  for (int k = threadIdx.x; k < d; k += blockDim.x) {
    double sum = 0, lo = CUDART_INF, hi = -CUDART_INF;
    for (long long r = r0; r < r1; ++r) {
      const double v = static_cast<double>(src[r * stride + k]);
      sum += v, lo = fmin(lo, v), hi = fmax(hi, v);
    }
    double* o = stats + (c * d + k) * 3;
    o[0] = sum, o[1] = lo, o[2] = hi;
  }
}

// Monte Carlo queries made on the device (mixture_entropy_on_device): padded sigma-unit
// row r of dst is draw g = row0 + r, y = c_i + sigma z with i = g / per_center and z the
// normals of Philox row g, stream MonteCarloQueries: entropy_mc_segmented's draws on the
// host, written as (c_i - mean) * inv_scale + z, as prepare_rows would write y. cv[r] =
// (|z|^2 - d) / 2, the control variate.
// Rows are written by groups of kGroup lanes (a power of two <= 32, one group per row):
// lane l of a group draws the normal pairs b = l, l + kGroup, ... of its row, so the lanes
// of a warp write consecutive words (one thread per row wrote words dp apart: uncoalesced
// at large d). The row's |z|^2 is summed over the group by shuffles in a fixed order. The
// loop runs whole warps (its bound is warp-uniform), so every lane reaches every shuffle.
template <class T, int kGroup>
__global__ void draw_rows_kernel(const T* __restrict__ centers, long long stride, int d,
                                 unsigned long long per_center, unsigned long long row0, long long rows,
                                 long long rows_pad, int dp, const double* __restrict__ mean,
                                 double inv_scale, std::uint32_t key_lo, std::uint32_t key_hi,
                                 float* __restrict__ dst, double* __restrict__ cv) {
  static_assert(kGroup >= 1 && kGroup <= 32 && (kGroup & (kGroup - 1)) == 0, "a power of two up to a warp");
  constexpr int kRowsPerWarp = 32 / kGroup;
  const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const long long warps = static_cast<long long>(gridDim.x) * blockDim.x / 32;
  const int lane = static_cast<int>(threadIdx.x % 32), member = lane % kGroup;
  const int pairs = dp / 2;  // dp is a multiple of 4
  for (long long first = warp * kRowsPerWarp; first < rows_pad; first += warps * kRowsPerWarp) {
    const long long r = first + lane / kGroup;
    double zz = 0;
    if (r < rows_pad) {
      float* o = dst + r * dp;
      const unsigned long long g = row0 + static_cast<unsigned long long>(r);
      const T* c = r < rows ? centers + static_cast<long long>(g / per_center) * stride : nullptr;
      for (int b = member; b < pairs; b += kGroup) {
        const int k = 2 * b;
        float v0 = 0.f, v1 = 0.f;
        if (c != nullptr && k < d) {
          const double2 z = normal_pair(key_lo, key_hi, static_cast<std::uint32_t>(rng::Stream::MonteCarloQueries),
                                        g, static_cast<std::uint32_t>(b));
          v0 = static_cast<float>((static_cast<double>(c[k]) - mean[k]) * inv_scale + z.x);
          zz += z.x * z.x;
          if (k + 1 < d) {
            v1 = static_cast<float>((static_cast<double>(c[k + 1]) - mean[k + 1]) * inv_scale + z.y);
            zz += z.y * z.y;
          }
        }
        o[k] = v0, o[k + 1] = v1;
      }
    }
    for (int off = kGroup / 2; off > 0; off /= 2) zz += __shfl_down_sync(0xffffffffu, zz, off, kGroup);
    if (member == 0 && r < rows) cv[r] = 0.5 * (zz - static_cast<double>(d));
  }
}

// Inputs that are already on the device (log_density_on_device): lse_cuda_whole reads
// their rows there, moving them to sigma units on the way, instead of uploading p's.
struct DeviceRows {
  DeviceMatrixView queries, centers;
  const double* mean = nullptr;  // device, d entries: the centres' column means
  double inv_scale = 1;
  unsigned long long* bad_row = nullptr;  // device: first non-finite row, or ~0
  // per_center > 0: the queries are not read but drawn, per_center per centre: query r
  // is draw row_base + r (draw_rows_kernel, Philox key `seed`); each query's control
  // variate goes to cv (host).
  std::size_t per_center = 0;
  std::uint64_t seed = 0, row_base = 0;
  double* cv = nullptr;
};

// Calls launch(src) with x's elements as the typed pointer its dtype says (float or
// double), then checks the launch.
template <class Launch>
void launch_typed(const DeviceMatrixView& x, const Launch& launch) {
  if (x.dtype == DType::Float64) {
    launch(static_cast<const double*>(x.data));
  } else {
    launch(static_cast<const float*>(x.data));
  }
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
}

// Rows [row0, row0 + rows) of a device matrix into padded sigma-unit rows at dst.
void prepare_rows(const DeviceMatrixView& x, std::size_t row0, std::size_t rows,
                  std::size_t rows_pad, std::size_t dp, const DeviceRows& dev, float* dst) {
  if (x.dtype == DType::Float64) {
    pad_rows(static_cast<const double*>(x.data) + row0 * x.row_stride, rows, x.cols, x.row_stride, dev.mean,
             dev.inv_scale, dst, rows_pad, dp, dev.bad_row, row0);
  } else {
    pad_rows(static_cast<const float*>(x.data) + row0 * x.row_stride, rows, x.cols, x.row_stride, dev.mean,
             dev.inv_scale, dst, rows_pad, dp, dev.bad_row, row0);
  }
}

// Draws [row0, row0 + rows) of dev's Monte Carlo queries into padded sigma-unit rows at
// dst, their control variates into dcv: a group of lanes per row, as many as the row has
// normal pairs (up to a warp).
void draw_rows(const DeviceRows& dev, std::size_t row0, std::size_t rows, std::size_t rows_pad,
               std::size_t dp, float* dst, double* dcv) {
  const std::size_t pairs = dp / 2;
  const int group = pairs <= 2 ? 2 : pairs <= 4 ? 4 : pairs <= 8 ? 8 : pairs <= 16 ? 16 : 32;
  const unsigned blocks = static_cast<unsigned>(
      std::clamp<std::size_t>((rows_pad * group + kPadThreads - 1) / kPadThreads, 1, 65535));
  const DeviceMatrixView& c = dev.centers;
  launch_typed(c, [&](const auto* src) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
    auto run = [&](auto kernel) {
      INFOFLOW_LAUNCH(kernel, blocks, kPadThreads, 0, nullptr, src, static_cast<long long>(c.row_stride),
                      static_cast<int>(c.cols), static_cast<unsigned long long>(dev.per_center),
                      static_cast<unsigned long long>(dev.row_base + row0), static_cast<long long>(rows),
                      static_cast<long long>(rows_pad), static_cast<int>(dp), dev.mean, dev.inv_scale,
                      static_cast<std::uint32_t>(dev.seed), static_cast<std::uint32_t>(dev.seed >> 32), dst, dcv);
    };
    switch (group) {
      case 2: run(draw_rows_kernel<T, 2>); break;
      case 4: run(draw_rows_kernel<T, 4>); break;
      case 8: run(draw_rows_kernel<T, 8>); break;
      case 16: run(draw_rows_kernel<T, 16>); break;
      default: run(draw_rows_kernel<T, 32>); break;
    }
  });
}

// Throws InvalidArgument naming the first non-finite row dev.bad_row caught, then resets it.
void check_finite_rows(const DeviceRows& dev, const char* what) {
  unsigned long long bad = 0;
  INFOFLOW_CUDA_CHECK(cudaMemcpy(&bad, dev.bad_row, sizeof bad, cudaMemcpyDeviceToHost));
  if (bad != ~0ull) {
    throw InvalidArgument(std::string(what) + " row " + std::to_string(bad) + " holds NaN or inf");
  }
}

// dev's rows as lse_cuda_whole reads them: prepared in place, or drawn, never uploaded.
class DeviceRowSource final : public RowSource {
 public:
  explicit DeviceRowSource(const DeviceRows& dev) : dev_(dev) {}
  std::size_t staging_floats(std::size_t) const override { return 0; }
  void reserve(std::size_t rows_per_launch) override {
    if (draws()) dcv_ = device_alloc<double>(std::max<std::size_t>(round_up(rows_per_launch, kThreads), 1));
  }
  void centres(float* dst, std::size_t n_pad, std::size_t dp, float*) override {
    prepare_rows(dev_.centers, 0, dev_.centers.rows, n_pad, dp, dev_, dst);
    check_finite_rows(dev_, "centers");
  }
  void queries(std::size_t row0, std::size_t rows, std::size_t rows_pad, std::size_t dp, float* dst,
               float*) override {
    if (draws()) {
      draw_rows(dev_, row0, rows, rows_pad, dp, dst, dcv_.get());
    } else {
      prepare_rows(dev_.queries, row0, rows, rows_pad, dp, dev_, dst);
    }
  }
  void chunk_done(std::size_t row0, std::size_t rows) override {
    if (!draws()) {
      check_finite_rows(dev_, "queries");
    } else if (dev_.cv != nullptr) {
      INFOFLOW_CUDA_CHECK(cudaMemcpy(dev_.cv + row0, dcv_.get(), rows * sizeof(double), cudaMemcpyDeviceToHost));
    }
  }

 private:
  bool draws() const { return dev_.per_center > 0; }
  const DeviceRows& dev_;
  DeviceBuffer<double> dcv_;
};


// Checks one device matrix's view and returns the device its memory is on.
int device_of(const DeviceMatrixView& x, const char* what) {
  if (x.data == nullptr || x.rows == 0 || x.cols == 0) {
    throw InvalidArgument(std::string(what) + ": empty device matrix (" + std::to_string(x.rows) + " x " +
                          std::to_string(x.cols) + ")");
  }
  if (x.row_stride < x.cols) {
    throw InvalidArgument(std::string(what) + ": row stride " + std::to_string(x.row_stride) +
                          " is smaller than its " + std::to_string(x.cols) + " columns");
  }
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, x.data);
  if (err != cudaSuccess) throw_cuda_error(err, "cudaPointerGetAttributes", __FILE__, __LINE__);
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
    throw InvalidArgument(std::string(what) + ": not GPU memory (a host pointer?); "
                          "log_density takes host arrays");
  }
  return attr.device;
}

}  // namespace
}  // namespace infoflow::detail

namespace infoflow {

namespace detail {
namespace {


// A device matrix of centres made ready for lse_cuda_whole: its column means and extent
// (summed on the device in float64 chunks, combined here in a fixed order), log-weights
// shifted so the largest is 0 (as prepare_centers does for host data: the true log-weight
// is log_w + offset), and the NaN flag. Made on the current device: the caller's
// DeviceScope has made it the data's.
struct DeviceCenters {
  DeviceBuffer<double> mean;
  DeviceBuffer<unsigned long long> bad_row;
  std::vector<float> log_w;
  double offset = 0;
  double raw_extent = 0, centred_extent = 0;  // max |c| and max |c - mean| over coordinates
};

DeviceCenters prepare_device_centers(const DeviceMatrixView& centers, Span<const double> weights) {
  const std::size_t n = centers.rows, d = centers.cols;
  check_weights(weights, n);
  constexpr std::size_t kChunk = 1024;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  auto stats = device_alloc<double>(chunks * d * 3);
  launch_typed(centers, [&](const auto* src) {
    INFOFLOW_LAUNCH(column_stats_kernel, static_cast<unsigned>(chunks), kPadThreads, 0, nullptr, 
        src, static_cast<long long>(n), static_cast<int>(d), static_cast<long long>(centers.row_stride),
        static_cast<long long>(kChunk), stats.get());
  });
  std::vector<double> host(chunks * d * 3), mean(d, 0.0), lo(d, HUGE_VAL), hi(d, -HUGE_VAL);
  INFOFLOW_CUDA_CHECK(cudaMemcpy(host.data(), stats.get(), host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  for (std::size_t c = 0; c < chunks; ++c) {
    for (std::size_t k = 0; k < d; ++k) {
      const double* o = host.data() + (c * d + k) * 3;
      mean[k] += o[0], lo[k] = std::min(lo[k], o[1]), hi[k] = std::max(hi[k], o[2]);
    }
  }
  DeviceCenters r;
  for (std::size_t k = 0; k < d; ++k) {
    mean[k] /= static_cast<double>(n);
    r.raw_extent = std::max({r.raw_extent, std::abs(lo[k]), std::abs(hi[k])});
    r.centred_extent = std::max({r.centred_extent, hi[k] - mean[k], mean[k] - lo[k]});
  }
  r.mean = device_upload(mean);
  r.bad_row = device_alloc<unsigned long long>(1);
  INFOFLOW_CUDA_CHECK(cudaMemset(r.bad_row.get(), 0xff, sizeof(unsigned long long)));
  r.log_w.assign(n, 0.f);
  r.offset = -std::log(static_cast<double>(n));
  if (!weights.empty()) {
    r.offset = -HUGE_VAL;
    for (double w : weights) r.offset = std::max(r.offset, std::log(w));
    for (std::size_t j = 0; j < n; ++j) r.log_w[j] = static_cast<float>(std::log(weights[j]) - r.offset);
  }
  return r;
}

// log sum_j w_j exp(-alpha_sigma ||y - c_j||^2 / sigma^2) for the rows of dev (queries
// read or drawn), through lse_cuda_whole in sigma units.
std::vector<double> device_lse(const DeviceRows& dev, const DeviceCenters& dc, std::size_t m,
                               float alpha_sigma, const ProgressFn& progress) {
  LseProblemF32 p;
  p.m = m, p.n = dev.centers.rows, p.d = dev.centers.cols, p.log_weights = dc.log_w.data();
  p.alpha = alpha_sigma;
  std::vector<double> out(m);
  DeviceRowSource source(dev);
  lse_cuda_whole(p, out.data(), progress, nullptr, &source);
  for (double& v : out) v += dc.offset;
  return out;
}

// Centers in device memory as the entropy estimator sees them (segmented_entropy.hpp).
class DeviceMixture final : public ResidentMixture {
 public:
  DeviceMixture(const DeviceMatrixView& centers, const DeviceCenters& dc, double sigma)
      : centers_(centers), dc_(dc), sigma_(sigma) {}
  void score_draws(std::uint64_t seed, std::size_t per_center, std::uint64_t first, std::size_t rows,
                   double* lse, double* cv, const ProgressFn& progress) const override {
    DeviceRows dev{centers_, centers_, dc_.mean.get(), 1 / sigma_, dc_.bad_row.get()};
    dev.per_center = per_center, dev.seed = seed, dev.row_base = first, dev.cv = cv;
    // In sigma units alpha = 1 / (2 sigma^2) times sigma^2.
    const std::vector<double> v = device_lse(dev, dc_, rows, 0.5f, progress);
    std::copy(v.begin(), v.end(), lse);
  }
  void score_centres(double alpha, double* lse, const ProgressFn& progress) const override {
    const DeviceRows self{centers_, centers_, dc_.mean.get(), 1 / sigma_, dc_.bad_row.get()};
    const std::vector<double> v =
        device_lse(self, dc_, centers_.rows, static_cast<float>(alpha * sigma_ * sigma_), progress);
    std::copy(v.begin(), v.end(), lse);
  }

 private:
  const DeviceMatrixView& centers_;
  const DeviceCenters& dc_;
  double sigma_;
};

}  // namespace
}  // namespace detail

void log_density_on_device(DeviceMatrixView queries, DeviceMatrixView centers,
                           Span<const double> weights, double sigma, Span<double> out,
                           const ProgressFn& progress) {
  using namespace detail;
  check_positive(sigma, "sigma");
  require_usable_device();
  const int device = device_of(centers, "centers");
  const DeviceScope scope(device);  // the data's device, the caller's current one given back
  if (device_of(queries, "queries") != device) {
    throw InvalidArgument("queries and centers are on different GPUs");
  }
  if (queries.cols != centers.cols) {
    throw InvalidArgument("queries have " + std::to_string(queries.cols) + " columns but centers have " +
                          std::to_string(centers.cols));
  }
  if (out.size != queries.rows) {
    throw InvalidArgument("out has " + std::to_string(out.size) + " entries for " +
                          std::to_string(queries.rows) + " queries");
  }
  const DeviceCenters dc = prepare_device_centers(centers, weights);
  const DeviceRows dev{queries, centers, dc.mean.get(), 1 / sigma, dc.bad_row.get()};
  // In sigma units alpha = 1 / (2 sigma^2) times sigma^2.
  const std::vector<double> lse = device_lse(dev, dc, queries.rows, 0.5f, progress);
  const double shift = -0.5 * static_cast<double>(centers.cols) * std::log(2 * M_PI * sigma * sigma);
  for (std::size_t i = 0; i < queries.rows; ++i) out[i] = lse[i] + shift;
  detail::check_finite_log_density({out.data, out.size}, sigma);
}

EntropyResult mixture_entropy_on_device(DeviceMatrixView centers, Span<const double> weights,
                                        const EntropyOptions& opt) {
  using namespace detail;
  const auto t0 = std::chrono::steady_clock::now();
  check_positive(opt.sigma, "sigma");
  if (opt.samples_per_center < 1) throw InvalidArgument("samples per center must be >= 1");
  if (opt.compute.backend != Backend::Auto && opt.compute.backend != Backend::Cuda) {
    throw InvalidArgument(std::string("centres on a GPU run on the cuda backend, not ") +
                          std::string(backend_name(opt.compute.backend)) + "; copy them to the host for it");
  }
  if (opt.compute.comm != nullptr && opt.compute.comm->size() > 1) {
    throw InvalidArgument("centres on a GPU are estimated in one process, not split across ranks");
  }
  require_usable_device();
  const DeviceScope scope(device_of(centers, "centers"));  // the data's device, the caller's given back
  const DeviceCenters dc = prepare_device_centers(centers, weights);
  check_draw_extent(dc.raw_extent, dc.centred_extent, opt.sigma, Backend::Cuda, "sigma");
  // The host's estimator (mixture_entropy_estimate) with the centres left where they are:
  // it keeps the weights, the device draws and sums.
  const std::size_t n = centers.rows;
  PreparedCenters c;
  c.raw = {nullptr, n, centers.cols};
  c.log_w.resize(n);
  for (std::size_t j = 0; j < n; ++j) c.log_w[j] = weights.empty() ? -std::log(static_cast<double>(n)) : std::log(weights[j]);
  const DeviceMixture mixture(centers, dc, opt.sigma);
  EntropyResult r = mixture_entropy_estimate(c, weights, opt, Backend::Cuda, &mixture);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace detail {

EntropyResult mixture_entropy_drawn_on_device(MatrixView<double> centers, Span<const double> weights,
                                              const EntropyOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  require_usable_device();
  const DeviceScope scope(opt.compute.cuda_device);
  const std::size_t n = centers.rows, d = centers.cols;
  auto dc = device_alloc<double>(n * d);
  INFOFLOW_CUDA_CHECK(cudaMemcpy(dc.get(), centers.data, n * d * sizeof(double), cudaMemcpyHostToDevice));
  EntropyResult r = mixture_entropy_on_device({dc.get(), n, d, d, DType::Float64}, weights, opt);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();  // with the upload
  return r;
}

}  // namespace detail
}  // namespace infoflow
