// Emulated build only (cuda_emulation/): cub::BlockScan::ExclusiveSum for the kernels'
// integer types, as a sequential scan by thread 0 (exact, so identical to CUB's).
#pragma once

namespace cub {

template <class T, int kThreads>
class BlockScan {
 public:
  struct TempStorage {
    T values[kThreads];
    T total;
  };
  explicit BlockScan(TempStorage& storage) : s_(storage) {}

  void ExclusiveSum(T input, T& output, T& block_aggregate) {
    const unsigned me = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    s_.values[me] = input;
    __syncthreads();
    if (me == 0) {
      T run{};
      for (int i = 0; i < kThreads; ++i) {
        const T v = s_.values[i];
        s_.values[i] = run;
        run = run + v;
      }
      s_.total = run;
    }
    __syncthreads();
    output = s_.values[me];
    block_aggregate = s_.total;
  }
  void ExclusiveSum(T input, T& output) {
    T total;
    ExclusiveSum(input, output, total);
  }

 private:
  TempStorage& s_;
};

}  // namespace cub
