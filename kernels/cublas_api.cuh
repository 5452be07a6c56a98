// cuBLAS for the kernels/ files (the GPU forward passes' GEMMs, the large-d log-sum-exp's):
// opened with dlopen at first use instead of linked. Loading libcublas/libcublasLt costs
// every process 0.1-0.15 s of static initialisation (measured on a machine without a GPU:
// an empty program linked with -lcublas takes 0.09-0.16 s to run, 0.00 s without), which
// every `infoflow` command and every `import infoflow` paid although only these paths use
// it. The header brings cuBLAS's types and enums only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <type_traits>

namespace infoflow::detail {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*dgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                          const double*, const double*, int, const double*, int, const double*,
                          double*, int);
  const char* (*status_name)(cublasStatus_t);
  const char* (*status_string)(cublasStatus_t);
  std::string error;  // non-empty: not loadable, and why
};

// The process's cuBLAS, loaded once (kernels/cublas_api.cu); throws ResourceError, saying
// why, when it cannot be loaded. (cublas_loadable in nn/forward.hpp asks without throwing.)
const CublasApi& cublas();

[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line);

#define INFOFLOW_CUBLAS_CHECK(call)                                                 \
  do {                                                                              \
    const cublasStatus_t infoflow_st_ = (call);                                     \
    if (infoflow_st_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::infoflow::detail::throw_cublas_error(infoflow_st_, #call, __FILE__, __LINE__); \
  } while (0)

// An owned handle; the deleter never throws (it may run while unwinding).
struct CublasDestroy {
  void operator()(cublasHandle_t h) const noexcept { cublas().destroy(h); }
};
using Cublas = std::unique_ptr<std::remove_pointer_t<cublasHandle_t>, CublasDestroy>;

}  // namespace infoflow::detail
