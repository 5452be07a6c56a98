// Emulated build only (cuda_emulation/): cub::BlockReduce for the kernels' types, as a
// plain loop in thread order. Results are identical to CUB's where the reduction is exact
// (min, max, integer sums: every use in kernels/); a float sum would round in another order.
// As with CUB, only thread 0 receives the result; the other threads get a poisoned value
// so a kernel that reads it elsewhere fails its tests.
#pragma once

#include <limits>
#include <type_traits>

namespace cub {

template <class T, int kThreads>
class BlockReduce {
 public:
  struct TempStorage {
    T values[kThreads];
  };
  explicit BlockReduce(TempStorage& storage) : s_(storage) {}

  template <class Op>
  T Reduce(T input, Op op) {
    const unsigned me = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    s_.values[me] = input;
    __syncthreads();
    if (me != 0) return poison();
    T r = s_.values[0];
    for (int i = 1; i < kThreads; ++i) r = op(r, s_.values[i]);
    return r;
  }
  T Sum(T input) {
    return Reduce(input, [](T a, T b) { return a + b; });
  }

 private:
  static T poison() {
    if constexpr (std::numeric_limits<T>::has_quiet_NaN) return std::numeric_limits<T>::quiet_NaN();
    return std::numeric_limits<T>::max() / 3;
  }
  TempStorage& s_;
};

}  // namespace cub
