// The emulated device itself (cuda_emulation/, -DINFOFLOW_CUDA_EMULATION=ON only): that it
// runs kernels as CUDA defines them (built-ins, shared memory per block, barriers, warp
// shuffles, atomics, the CUB stand-ins) and that it reports what a real device would fail
// on (a barrier reached by part of a block, copies outside an allocation, an exhausted
// memory pool, a bad launch shape), since every other cuda-labelled test trusts it.
// Compiled as the kernels are: host C++ with the emulation header force-included.
#include <gtest/gtest.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include <cstdint>
#include <numeric>
#include <vector>

#include "kernels/launch.cuh"

namespace {

template <class T>
T* device_array(std::size_t n) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
  return static_cast<T*>(p);
}

__global__ void index_kernel(unsigned* out) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * blockIdx.x);
  out[t] = blockIdx.x * 1000000u + threadIdx.y * 1000u + threadIdx.x + 0 * gridDim.x;
}

TEST(CudaEmulation, BuiltInsNumberEveryThread) {
  unsigned* d = device_array<unsigned>(3 * 40);
  INFOFLOW_LAUNCH(index_kernel, dim3(3), dim3(20, 2), 0, nullptr, d);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<unsigned> h(3 * 40);
  ASSERT_EQ(cudaMemcpy(h.data(), d, h.size() * sizeof(unsigned), cudaMemcpyDeviceToHost), cudaSuccess);
  for (unsigned b = 0; b < 3; ++b)
    for (unsigned y = 0; y < 2; ++y)
      for (unsigned x = 0; x < 20; ++x) EXPECT_EQ(h[b * 40 + y * 20 + x], b * 1000000u + y * 1000u + x);
  cudaFree(d);
}

// Each thread writes its slot, then reads its neighbour's: right only with the barrier,
// and each block sees its own shared array although blocks run on several OS threads.
template <bool kBarrier>
__global__ void rotate_kernel(const int* in, int* out) {
  __shared__ int s[64];
  s[threadIdx.x] = in[blockIdx.x * 64 + threadIdx.x];
  if (kBarrier) __syncthreads();
  out[blockIdx.x * 64 + threadIdx.x] = s[(threadIdx.x + 1) % 64];
}

TEST(CudaEmulation, SharedMemoryIsPerBlockAndBarriersOrderIt) {
  const int blocks = 40;
  std::vector<int> h(blocks * 64);
  std::iota(h.begin(), h.end(), 0);
  int* in = device_array<int>(h.size());
  int* out = device_array<int>(h.size());
  cudaMemcpy(in, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice);
  INFOFLOW_LAUNCH(rotate_kernel<true>, blocks, 64, 0, nullptr, in, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<int> r(h.size());
  cudaMemcpy(r.data(), out, r.size() * sizeof(int), cudaMemcpyDeviceToHost);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < 64; ++t) ASSERT_EQ(r[b * 64 + t], b * 64 + (t + 1) % 64) << "block " << b << " thread " << t;
  // Without the barrier, a thread reads its neighbour's slot before the neighbour wrote
  // it in one of the two thread orders: forward for all but the last thread, reverse for it.
  INFOFLOW_LAUNCH(rotate_kernel<false>, blocks, 64, 0, nullptr, in, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  cudaMemcpy(r.data(), out, r.size() * sizeof(int), cudaMemcpyDeviceToHost);
  int wrong = 0;
  for (int b = 1; b < blocks; ++b)  // block 0's stale slots could hold anything
    for (int t = 0; t < 64; ++t) wrong += r[b * 64 + t] != b * 64 + (t + 1) % 64;
  EXPECT_GT(wrong, 0) << "a missing __syncthreads went unnoticed";
  cudaFree(in), cudaFree(out);
}

__global__ void partial_barrier_kernel(int* out) {
  if (threadIdx.x < 5) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void partial_shuffle_kernel(int* out) {
  if (threadIdx.x % 32 == 7) return;  // a lane named in the full mask never arrives
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

TEST(CudaEmulation, BarrierReachedByPartOfTheBlockFailsTheLaunch) {
  int* d = device_array<int>(64);
  INFOFLOW_LAUNCH(partial_barrier_kernel, 2, 64, 0, nullptr, d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // read once, then cleared
  INFOFLOW_LAUNCH(partial_shuffle_kernel, 1, 64, 0, nullptr, d);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);  // surfaces at the next sync too
  cudaGetLastError();
  cudaFree(d);
}

// A warp sum by shuffles, as gemm_lse_kernel merges its lanes; double, like the kernels.
__global__ void warp_sum_kernel(const double* in, double* out) {
  double v = in[threadIdx.x];
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
  out[2 + threadIdx.x] = __shfl_xor_sync(0xffffffffu, in[threadIdx.x], 1);
  const unsigned ballot = __ballot_sync(0xffffffffu, in[threadIdx.x] > 40);
  if (threadIdx.x == 32) out[66] = static_cast<double>(ballot);
}

TEST(CudaEmulation, WarpShufflesExchangeWithinEachWarp) {
  std::vector<double> h(64);
  std::iota(h.begin(), h.end(), 0.0);
  double* in = device_array<double>(64);
  double* out = device_array<double>(67);
  cudaMemcpy(in, h.data(), 64 * sizeof(double), cudaMemcpyHostToDevice);
  INFOFLOW_LAUNCH(warp_sum_kernel, 1, 64, 0, nullptr, in, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<double> r(67);
  cudaMemcpy(r.data(), out, r.size() * sizeof(double), cudaMemcpyDeviceToHost);
  EXPECT_EQ(r[0], 31.0 * 32 / 2);
  EXPECT_EQ(r[1], (32.0 + 63) * 32 / 2);
  for (int t = 0; t < 64; ++t) EXPECT_EQ(r[2 + t], t ^ 1) << t;
  EXPECT_EQ(r[66], static_cast<double>(0xfffffe00u));  // lanes 9..31 of warp 1 hold 41..63
  cudaFree(in), cudaFree(out);
}

__global__ void cub_kernel(const int* in, int* out) {
  using Reduce = cub::BlockReduce<int, 128>;
  using Scan = cub::BlockScan<int, 128>;
  __shared__ union {
    Reduce::TempStorage reduce;
    Scan::TempStorage scan;
  } tmp;
  const int v = in[threadIdx.x];
  const int lo = Reduce(tmp.reduce).Reduce(v, [](int a, int b) { return a < b ? a : b; });
  if (threadIdx.x == 0) out[0] = lo;
  __syncthreads();
  int pos = 0, total = 0;
  Scan(tmp.scan).ExclusiveSum(v, pos, total);
  out[1 + threadIdx.x] = pos;
  if (threadIdx.x == 127) out[129] = total;
  atomicAdd(out + 130, v);
  atomicMin(out + 131, v);
}

TEST(CudaEmulation, CubStandInsAndAtomicsAreExact) {
  std::vector<int> h(128);
  for (int i = 0; i < 128; ++i) h[i] = (i * 37) % 11 - 3;
  int* in = device_array<int>(128);
  int* out = device_array<int>(132);
  cudaMemcpy(in, h.data(), 128 * sizeof(int), cudaMemcpyHostToDevice);
  const int init[2] = {0, 1 << 30};
  cudaMemcpy(out + 130, init, sizeof init, cudaMemcpyHostToDevice);
  INFOFLOW_LAUNCH(cub_kernel, 1, 128, 0, nullptr, in, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<int> r(132);
  cudaMemcpy(r.data(), out, r.size() * sizeof(int), cudaMemcpyDeviceToHost);
  EXPECT_EQ(r[0], *std::min_element(h.begin(), h.end()));
  int run = 0;
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(r[1 + i], run) << i;
    run += h[i];
  }
  EXPECT_EQ(r[129], run);
  EXPECT_EQ(r[130], run);
  EXPECT_EQ(r[131], r[0]);
  // DeviceScan: the two-call protocol, then the scan.
  std::size_t bytes = 0;
  ASSERT_EQ(cub::DeviceScan::ExclusiveSum(nullptr, bytes, in, out, 128), cudaSuccess);
  void* tmp = nullptr;
  cudaMalloc(&tmp, bytes);
  ASSERT_EQ(cub::DeviceScan::ExclusiveSum(tmp, bytes, in, out, 128), cudaSuccess);
  cudaMemcpy(r.data(), out, 128 * sizeof(int), cudaMemcpyDeviceToHost);
  EXPECT_EQ(r[127], run - h[127]);
  cudaFree(tmp), cudaFree(in), cudaFree(out);
}

TEST(CudaEmulation, MemoryIsCheckedAsADeviceChecksIt) {
  int* d = device_array<int>(10);
  std::vector<int> h(11, 0);
  EXPECT_EQ(cudaMemcpy(d, h.data(), 10 * sizeof(int), cudaMemcpyHostToDevice), cudaSuccess);
  // Past the allocation, or from a host pointer as device memory.
  EXPECT_EQ(cudaMemcpy(d, h.data(), 11 * sizeof(int), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d + 60, h.data(), sizeof(int), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(h.data(), h.data() + 1, sizeof(int), cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  cudaGetLastError();
  cudaPointerAttributes a{};
  ASSERT_EQ(cudaPointerGetAttributes(&a, d + 3), cudaSuccess);
  EXPECT_EQ(a.type, cudaMemoryTypeDevice);
  ASSERT_EQ(cudaPointerGetAttributes(&a, h.data()), cudaSuccess);
  EXPECT_EQ(a.type, cudaMemoryTypeUnregistered);
  // The pool is finite: an allocation larger than what is free is refused, not made.
  std::size_t free_b = 0, total_b = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
  void* big = nullptr;
  EXPECT_EQ(cudaMalloc(&big, free_b + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(big, nullptr);
  cudaGetLastError();
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidValue);
  cudaGetLastError();
  cudaFree(d);
  // A launch with no blocks or too many threads is refused, as on a device.
  INFOFLOW_LAUNCH(index_kernel, 0, 32, 0, nullptr, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  INFOFLOW_LAUNCH(index_kernel, 1, 2048, 0, nullptr, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
}

}  // namespace
