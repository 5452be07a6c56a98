// CUDA emulation: the project's kernels/*.cu compiled as host C++ and executed on the CPU
// (-DINFOFLOW_CUDA_EMULATION=ON). This header is force-included (-include) before every
// kernel source of that build, so the sources need no #ifdef beyond the launch macro
// (kernels/launch.cuh) and the one inline-PTX function.
//
// The model, and what it does and does not check:
// - A launch runs synchronously: its blocks one after another on a few OS threads, each
//   block as blockDim cooperative fibers on one OS thread (runtime.cpp). A fiber runs
//   until it reaches a barrier, then the next one runs, in forward or reverse thread order
//   (INFOFLOW_CUDA_EMULATION_ORDER=reverse), so a missing __syncthreads shows as wrong
//   values in one of the two orders.
// - __syncthreads is a barrier of every thread of the block; one reached by only part of
//   the block (others exited or wait elsewhere) is reported as a launch failure, as is a
//   warp intrinsic whose named lanes do not all arrive.
// - __shared__ variables are thread_local statics: one copy per OS thread, and a block's
//   fibers all run on one OS thread, so each block sees its own copy.
// - Device memory is host memory (runtime.cpp), so AddressSanitizer sees out-of-bounds
//   device reads and writes.
// Not checked: nvcc's code generation, fast-math and ex2.approx accuracy (exp2f with
// flush-to-zero stands in), real CUB and cuBLAS, memory ordering between concurrently
// running blocks, register and shared-memory limits, speed.
#pragma once

#ifdef __CUDACC__
#error "infoflow_cuda_emulation.hpp is for host compilers only"
#endif

// Keywords, defined before cuda_runtime.h so its host_defines.h keeps ours.
#define __global__
#define __device__
#define __host__
#define __shared__ static thread_local
#define __constant__ static
#define __launch_bounds__(...)

#include <cuda_runtime.h>
#include <math_constants.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

namespace infoflow_emu {

// What the current fiber sees as its built-ins (runtime.cpp keeps them up to date).
struct ThreadContext {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned linear;  // threadIdx linearised, x fastest
};
ThreadContext& current();

// Barriers. sync_block: every thread of the block. sync_lanes: the lanes of `mask` in the
// caller's warp, which must include the caller.
void sync_block();
void sync_lanes(unsigned mask);
// Exchange slots of the current block, one 8-byte word per thread, for the warp intrinsics.
std::uint64_t* exchange_slots();

// Runs body once per thread of every block; returns the launch's error (also kept as the
// sticky last error).
cudaError_t launch(dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
                   const std::function<void()>& body);

template <class T>
std::uint64_t to_word(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp exchange of 8 bytes at most");
  std::uint64_t w = 0;
  std::memcpy(&w, &v, sizeof v);
  return w;
}
template <class T>
T from_word(std::uint64_t w) {
  T v;
  std::memcpy(&v, &w, sizeof v);
  return v;
}

// Value of lane `src` (within the caller's warp) after every lane of mask has posted its own.
template <class T>
T exchange(unsigned mask, T v, int src_lane) {
  const unsigned me = current().linear, warp0 = me - me % 32;
  std::uint64_t* slots = exchange_slots();
  slots[me] = to_word(v);
  sync_lanes(mask);
  const T r = from_word<T>(slots[warp0 + static_cast<unsigned>(src_lane)]);
  sync_lanes(mask);  // nobody overwrites a slot before every lane has read it
  return r;
}

inline int lane_id() { return static_cast<int>(current().linear % 32); }

}  // namespace infoflow_emu

// ---- built-ins ------------------------------------------------------------------------
#define threadIdx (::infoflow_emu::current().thread_idx)
#define blockIdx (::infoflow_emu::current().block_idx)
#define blockDim (::infoflow_emu::current().block_dim)
#define gridDim (::infoflow_emu::current().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::infoflow_emu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::infoflow_emu::sync_lanes(mask); }

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = ::infoflow_emu::lane_id();
  return ::infoflow_emu::exchange(mask, v, lane - lane % width + src % width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::infoflow_emu::lane_id(), src = lane + static_cast<int>(delta);
  const bool inside = src / width == lane / width;  // else the lane keeps its own value
  return ::infoflow_emu::exchange(mask, v, inside ? src : lane);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::infoflow_emu::lane_id(), src = lane - static_cast<int>(delta);
  const bool inside = src >= 0 && src / width == lane / width;
  return ::infoflow_emu::exchange(mask, v, inside ? src : lane);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = ::infoflow_emu::lane_id(), src = lane ^ lane_mask;
  const bool inside = src / width == lane / width;
  return ::infoflow_emu::exchange(mask, v, inside ? src : lane);
}
// Ballot over the lanes of mask: bit l set when lane l's predicate is true.
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const unsigned me = ::infoflow_emu::current().linear, warp0 = me - me % 32;
  std::uint64_t* slots = ::infoflow_emu::exchange_slots();
  slots[me] = pred != 0;
  ::infoflow_emu::sync_lanes(mask);
  unsigned bits = 0;
  for (unsigned l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && slots[warp0 + l] != 0) bits |= 1u << l;
  ::infoflow_emu::sync_lanes(mask);
  return bits;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

template <class T>
T __ldg(const T* p) {
  return *p;
}

// Atomics: blocks may run on several OS threads at once.
template <class T>
T atomicAdd(T* p, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    T old;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    T desired = old + v;
    while (!__atomic_compare_exchange(p, &old, &desired, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) desired = old + v;
    return old;
  } else {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
  }
}
template <class T>
T atomicMin(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}

// ---- device math that host C++ lacks ----------------------------------------------------
// Correctly rounded double arithmetic without contraction: the emulated build compiles
// with -ffp-contract=off, so a plain product is one rounding.
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __int_as_float(int v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
inline double __longlong_as_double(long long v) {
  double f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
// Stands in for ex2.approx.ftz.f32: exact-ish exp2, results below FLT_MIN flushed to 0.
inline float infoflow_emu_exp2_ftz(float x) {
  const float y = std::exp2(x);
  return y < FLT_MIN ? 0.f : y;
}
using std::isfinite;
using std::isinf;
using std::isnan;
using std::max;
using std::min;

// cuda_runtime.h declares the C++ overload for nvcc only.
template <class T>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, T* entry) {
  return cudaFuncGetAttributes(attr, reinterpret_cast<const void*>(entry));
}
