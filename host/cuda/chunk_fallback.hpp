// GPU out-of-memory fallback (kernels/lse_dense.cu), host code so it is tested without
// a device: when the device refuses a query chunk's buffers (another process took memory
// after cudaMemGetInfo planned them), the chunk shrinks and the run goes on.
#pragma once

#include <algorithm>
#include <cstddef>

namespace infoflow::detail {

// The next query chunk to try after `rows` could not be allocated: half of it, in whole
// blocks of `quantum`; 0 once a single block failed (then the error stands).
inline std::size_t smaller_chunk(std::size_t rows, std::size_t quantum) {
  if (rows <= quantum) return 0;
  return std::max(quantum, rows / 2 / quantum * quantum);
}

}  // namespace infoflow::detail
