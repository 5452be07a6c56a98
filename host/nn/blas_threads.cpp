// Why: the pthreads build of OpenBLAS (Debian's default) starts a pool of cores - 1
// threads when it is loaded, and after each threaded call they spin with sched_yield for
// about 2^28 cycles (~0.1 s here) before sleeping. Every OpenMP region infoflow runs in
// that window shares the cores with them. Measured on 2 cores: `infoflow log-density`,
// n = m = 20000, d = 10, exact, 0.13-0.15 s of compute with 0.07-0.11 s of system time,
// against 0.09 s and 0.01 s with OpenBLAS single-threaded; `bench_mi` MI over 40 960
// samples 0.20-0.23 s against 0.175 s. Our GEMMs (forward passes of narrow layers over
// many rows) lose nothing single-threaded: the forward pass benchmark is the same within
// noise. Declared weak, so that any other BLAS links and this does nothing.
#include "infoflow/network.hpp"

#include <cstdlib>

extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int blas_thread_shutdown_(void) __attribute__((weak));
}

namespace infoflow {

bool single_threaded_blas() {
  if (!openblas_set_num_threads || std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return false;
  openblas_set_num_threads(1);
  if (blas_thread_shutdown_) blas_thread_shutdown_();
  return true;
}

}  // namespace infoflow
