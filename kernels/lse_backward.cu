// log_density_backward's sweep on the CUDA backend (host/backward_sweep.hpp): for every
// owner row o and swept row s the term
//     t_os = f_s exp(a_s + b_o - ||x_o - x_s||^2 / 2)      (rows in sigma units)
// and per owner S_o = sum_s t_os, B_o = sum_s t_os ||x_o - x_s||^2, A_o = sum_s t_os (x_o - x_s).
// The same numerics as the cpu backend: float64 throughout (rows divided by sigma on the
// host), direct differences, no running maximum (a and b carry the forward's log-sum-exp,
// so partial sums over parts of the swept rows simply add), every pair evaluated; the m x n
// matrix never exists (device memory O((m + n) d) plus the split partials below). Unlike
// the cpu sweeps, terms below e^kMinExponent are kept: subnormal numbers cost a GPU
// nothing, and every form of the cut-off tried made ptxas spill in backward_sweep_kernel<2>.
// Float64 rather than the forward's float32: the gradient is a weighted sum of differences
// that cancels where an owner sits amid its neighbours, so it needs the differences'
// relative precision, not only the exponent's.
//
// Launch shape: kThreads (128) threads per block. A group of W lanes (W a power of 2, 1..32)
// owns one owner row, each lane R of its coordinates (k = lane + W r, rows padded with
// zeros to W R) with their running sums in registers; the group adds its lanes' partial
// squared distances by an xor butterfly, which leaves the same bits in every lane. d <= 8:
// W = 1, R = d rounded up to 1, 2, 4 or 8; d <= 256: R = 8, W the smallest power of 2 with
// W R >= d; larger d: W = 32, R = 0 (the sums in the owner's row of global memory). The
// grid is (owner blocks) x (splits of the swept rows); with more than one split each
// block writes partial sums and sum_splits_kernel adds them in split order, so the result
// is the same on every run.
// Reference: backward_sweep_reference (host/lse_backward.cpp); tests: CudaBackward.*
// (tests/test_autograd.cpp, ctest label cuda, emulated device without a GPU); bench:
// bench/bench_lse.cpp backward/cuda/...
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "backward_sweep.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/lse_cuda.cuh"

namespace infoflow::detail {
namespace {

// Coordinates per lane held in registers: 8 coordinates and 8 sums are 32 registers.
constexpr int kMaxLaneDims = 8;
// Blocks per launch the splits aim for: about 16 resident 128-thread blocks per SM on
// 132 SMs, twice over, so the last wave is short.
constexpr std::size_t kTargetBlocks = 4096;
// A split sweeps at least this many rows, so a block's fixed cost (its owner rows, the
// partial sums it writes) stays small against its pairs.
constexpr std::size_t kMinSplitRows = 256;
// The split partials take at most this much device memory.
constexpr std::size_t kMaxPartialBytes = std::size_t{256} << 20;

// out (one split's partials, or the result): [S: n_owners | B: n_owners | A: n_owners x d].
template <int R>
__global__ void __launch_bounds__(kThreads) backward_sweep_kernel(
    const double* __restrict__ owners, long long n_owners, const double* __restrict__ swept, long long n_swept,
    long long per_split, int pitch, int d, int width, const double* __restrict__ a_swept,
    const double* __restrict__ f_swept, const double* __restrict__ b_owner, bool want_a, double* __restrict__ out,
    long long split_stride) {
  const long long g = (static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x) / width;
  const int lane = static_cast<int>(threadIdx.x) % width;
  // Groups past the last owner repeat its work, so that every lane reaches each shuffle,
  // and write nothing.
  const bool real = g < n_owners;
  const long long o = real ? g : n_owners - 1;
  const long long s0 = static_cast<long long>(blockIdx.y) * per_split;
  const long long s1 = min(n_swept, s0 + per_split);
  double* part = out + static_cast<long long>(blockIdx.y) * split_stride;
  double* a_out = want_a ? part + 2 * n_owners + o * d : nullptr;
  const double b = b_owner != nullptr ? b_owner[o] : 0.0;
  const double* xo = owners + o * pitch;
  double s_sum = 0, b_sum = 0;
  if constexpr (R > 0) {
    double x[R], acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) x[r] = xo[lane + r * width], acc[r] = 0;
    for (long long s = s0; s < s1; ++s) {
      const double* xs = swept + s * pitch;
      double diff[R], dist2 = 0;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        diff[r] = x[r] - __ldg(xs + lane + r * width);
        dist2 = fma(diff[r], diff[r], dist2);
      }
      for (int off = width / 2; off > 0; off /= 2) dist2 += __shfl_xor_sync(0xffffffffu, dist2, off, width);
      const double t = (f_swept != nullptr ? __ldg(f_swept + s) : 1.0) * exp(__ldg(a_swept + s) + b - 0.5 * dist2);
      s_sum += t;
      b_sum = fma(t, dist2, b_sum);
      if (want_a) {
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = fma(t, diff[r], acc[r]);
      }
    }
    if (real && want_a) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (lane + r * width < d) a_out[lane + r * width] = acc[r];
      }
    }
  } else {
    if (real && want_a) {
      for (int k = lane; k < d; k += width) a_out[k] = 0;
    }
    for (long long s = s0; s < s1; ++s) {
      const double* xs = swept + s * pitch;
      double dist2 = 0;
      for (int k = lane; k < d; k += width) {
        const double diff = xo[k] - __ldg(xs + k);
        dist2 = fma(diff, diff, dist2);
      }
      for (int off = width / 2; off > 0; off /= 2) dist2 += __shfl_xor_sync(0xffffffffu, dist2, off, width);
      const double t = (f_swept != nullptr ? __ldg(f_swept + s) : 1.0) * exp(__ldg(a_swept + s) + b - 0.5 * dist2);
      s_sum += t;
      b_sum = fma(t, dist2, b_sum);
      if (real && want_a) {
        for (int k = lane; k < d; k += width) a_out[k] = fma(t, xo[k] - __ldg(xs + k), a_out[k]);
      }
    }
  }
  if (real && lane == 0) part[o] = s_sum, part[n_owners + o] = b_sum;
}

// out[e] = sum over splits, in split order, of parts[split * stride + e].
__global__ void sum_splits_kernel(const double* __restrict__ parts, long long stride, int splits,
                                  double* __restrict__ out) {
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < stride; e += step) {
    double s = 0;
    for (int k = 0; k < splits; ++k) s += parts[k * stride + e];
    out[e] = s;
  }
}

std::size_t pow2_at_least(std::size_t x) {
  std::size_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// Rows scaled by 1/sigma into pitch-wide rows, zeros in the padding.
std::vector<double> padded_rows(const double* src, std::size_t rows, std::size_t d, std::size_t pitch, double inv_s) {
  std::vector<double> out(rows * pitch, 0.0);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t k = 0; k < d; ++k) out[i * pitch + k] = src[i * d + k] * inv_s;
  }
  return out;
}

}  // namespace

void backward_sweep_cuda(const BackwardSweep& p, std::size_t max_split_rows) {
  require_usable_device();
  const DeviceScope scope(p.cuda_device);
  if (p.n_owners == 0) return;
  const std::size_t d = p.d, n_owners = p.n_owners, n_swept = p.n_swept;
  if (d > static_cast<std::size_t>(INT_MAX) / 64) {
    throw InvalidArgument("CUDA backend: d = " + std::to_string(d) + " exceeds the backward pass's limit");
  }
  int width = 32, lane_dims = 0;
  if (d <= static_cast<std::size_t>(kMaxLaneDims)) {
    width = 1, lane_dims = static_cast<int>(pow2_at_least(d));
  } else if (d <= 32 * static_cast<std::size_t>(kMaxLaneDims)) {
    lane_dims = kMaxLaneDims, width = static_cast<int>(pow2_at_least((d + kMaxLaneDims - 1) / kMaxLaneDims));
  }
  const std::size_t pitch = lane_dims > 0 ? static_cast<std::size_t>(width) * lane_dims : d;
  const bool want_a = p.A != nullptr;
  const std::size_t stride = n_owners * (2 + (want_a ? d : 0));
  const std::size_t blocks_x = (n_owners * width + kThreads - 1) / kThreads;
  if (blocks_x > static_cast<std::size_t>(INT_MAX)) {
    throw InvalidArgument("CUDA backend: " + std::to_string(n_owners) + " rows exceed the backward pass's limit");
  }

  std::size_t free_b = 0, total_b = 0;
  INFOFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const std::size_t fixed = ((n_owners + n_swept) * pitch + 2 * n_swept + n_owners + stride) * sizeof(double);
  if (fixed + kMemHeadroom > free_b) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "CUDA backend: the backward pass needs %.2f GiB of GPU memory, %.2f GiB free",
                  gib(double(fixed + kMemHeadroom)), gib(double(free_b)));
    throw ResourceError(msg);
  }
  // Splits of the swept rows: enough blocks to fill the device, each split long enough to
  // pay for itself, their partials within kMaxPartialBytes and free memory.
  std::size_t splits = std::max<std::size_t>(1, (kTargetBlocks + blocks_x - 1) / blocks_x);
  splits = std::min(splits, std::max<std::size_t>(1, n_swept / kMinSplitRows));
  if (max_split_rows > 0) splits = std::max(splits, (n_swept + max_split_rows - 1) / max_split_rows);
  const std::size_t room = std::min(kMaxPartialBytes, free_b - fixed - kMemHeadroom) / (stride * sizeof(double));
  splits = std::min({splits, std::max<std::size_t>(room, 1), std::size_t{65535}});
  const std::size_t per_split = (n_swept + splits - 1) / splits;
  splits = (n_swept + per_split - 1) / per_split;

  const double inv_s = 1 / p.sigma;
  const auto owners = device_upload(padded_rows(p.owners, n_owners, d, pitch, inv_s));
  const auto swept = device_upload(padded_rows(p.swept, n_swept, d, pitch, inv_s));
  const auto a = device_upload(std::vector<double>(p.a_swept, p.a_swept + n_swept));
  DeviceBuffer<double> f, b;
  if (p.f_swept != nullptr) f = device_upload(std::vector<double>(p.f_swept, p.f_swept + n_swept));
  if (p.b_owner != nullptr) b = device_upload(std::vector<double>(p.b_owner, p.b_owner + n_owners));
  auto result = device_alloc<double>(stride);
  DeviceBuffer<double> parts;
  if (splits > 1) parts = device_alloc<double>(splits * stride);
  double* out = splits > 1 ? parts.get() : result.get();

  const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(splits));
  const auto launch = [&](auto kernel) {
    INFOFLOW_LAUNCH(kernel, grid, kThreads, 0, nullptr, owners.get(), static_cast<long long>(n_owners), swept.get(),
                    static_cast<long long>(n_swept), static_cast<long long>(per_split), static_cast<int>(pitch),
                    static_cast<int>(d), width, a.get(), f.get(), b.get(), want_a, out,
                    static_cast<long long>(stride));
  };
  switch (lane_dims) {
    case 1: launch(backward_sweep_kernel<1>); break;
    case 2: launch(backward_sweep_kernel<2>); break;
    case 4: launch(backward_sweep_kernel<4>); break;
    case 8: launch(backward_sweep_kernel<8>); break;
    default: launch(backward_sweep_kernel<0>);
  }
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
  if (splits > 1) {
    const auto blocks = static_cast<unsigned>(std::clamp<std::size_t>((stride + kPadThreads - 1) / kPadThreads, 1, 65535));
    INFOFLOW_LAUNCH(sum_splits_kernel, blocks, kPadThreads, 0, nullptr, parts.get(), static_cast<long long>(stride),
                    static_cast<int>(splits), result.get());
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
  }
  // Synchronous copies: also where asynchronous kernel faults surface.
  INFOFLOW_CUDA_CHECK(cudaMemcpy(p.S, result.get(), n_owners * sizeof(double), cudaMemcpyDeviceToHost));
  if (p.B != nullptr) {
    INFOFLOW_CUDA_CHECK(cudaMemcpy(p.B, result.get() + n_owners, n_owners * sizeof(double), cudaMemcpyDeviceToHost));
  }
  if (want_a) {
    INFOFLOW_CUDA_CHECK(
        cudaMemcpy(p.A, result.get() + 2 * n_owners, n_owners * d * sizeof(double), cudaMemcpyDeviceToHost));
  }
}

}  // namespace infoflow::detail
