// Emulated build only (cuda_emulation/): cub::DeviceScan::ExclusiveSum over emulated
// device memory (host memory), with CUB's two-call protocol: a null d_temp_storage asks
// for the scratch size.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <iterator>

namespace cub {

struct DeviceScan {
  template <class In, class Out, class NumItems>
  static cudaError_t ExclusiveSum(void* d_temp_storage, std::size_t& temp_storage_bytes, In d_in, Out d_out,
                                  NumItems num_items, cudaStream_t = nullptr) {
    if (d_temp_storage == nullptr) {
      temp_storage_bytes = 1;
      return cudaSuccess;
    }
    using T = typename std::iterator_traits<Out>::value_type;
    T run{};
    for (NumItems i = 0; i < num_items; ++i) {
      const T v = static_cast<T>(d_in[i]);
      d_out[i] = run;
      run = run + v;
    }
    return cudaSuccess;
  }
};

}  // namespace cub
