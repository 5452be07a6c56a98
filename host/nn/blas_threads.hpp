// Internal: keeps a threaded OpenBLAS from competing with infoflow's own OpenMP threads.
#pragma once

namespace infoflow::detail {

// Makes OpenBLAS, if it is the BLAS linked in, run single-threaded in the caller's
// thread and stops its thread pool, unless OPENBLAS_NUM_THREADS is set (the user's
// choice stands). A no-op with any other BLAS. Process-wide, so only programs that own
// every BLAS call in the process call it: the CLI and the benchmarks, never the library
// or the Python module on their own (a user's numpy may share the same OpenBLAS).
// Returns whether it changed anything.
bool single_threaded_blas();

}  // namespace infoflow::detail
