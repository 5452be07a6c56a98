// Emulated build only: a stand-in libcublas.so.N that kernels/cublas_api.cu opens through
// its dlopen seam, exporting the few cuBLAS symbols the project resolves, with plain
// loops over emulated device memory (host memory). DGEMM sums each dot product in index
// order in float64; real cuBLAS sums in another order, so results agree to rounding.
#include <cublas_v2.h>

#include <cstddef>

namespace {
struct Handle {
  cudaStream_t stream = nullptr;
};
}  // namespace

extern "C" {

__attribute__((visibility("default"))) cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = reinterpret_cast<cublasHandle_t>(new Handle);
  return CUBLAS_STATUS_SUCCESS;
}

__attribute__((visibility("default"))) cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  delete reinterpret_cast<Handle*>(handle);
  return CUBLAS_STATUS_SUCCESS;
}

__attribute__((visibility("default"))) cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t s) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  reinterpret_cast<Handle*>(handle)->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}

// Column-major C (m x n, ldc) = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n.
__attribute__((visibility("default"))) cublasStatus_t cublasDgemm_v2(
    cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double* alpha,
    const double* A, int lda, const double* B, int ldb, const double* beta, double* C, int ldc) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || ldc < (m > 1 ? m : 1) ||
      lda < ((ta == CUBLAS_OP_N ? m : k) > 1 ? (ta == CUBLAS_OP_N ? m : k) : 1) ||
      ldb < ((tb == CUBLAS_OP_N ? k : n) > 1 ? (tb == CUBLAS_OP_N ? k : n) : 1) || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) ||
      (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const auto a = [&](int i, int p) {
    return ta == CUBLAS_OP_N ? A[i + static_cast<std::ptrdiff_t>(p) * lda] : A[p + static_cast<std::ptrdiff_t>(i) * lda];
  };
  const auto b = [&](int p, int j) {
    return tb == CUBLAS_OP_N ? B[p + static_cast<std::ptrdiff_t>(j) * ldb] : B[j + static_cast<std::ptrdiff_t>(p) * ldb];
  };
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) s += a(i, p) * b(p, j);
      double& c = C[i + static_cast<std::ptrdiff_t>(j) * ldc];
      c = *beta == 0 ? *alpha * s : *alpha * s + *beta * c;  // beta = 0: C is not read (may hold NaN)
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

__attribute__((visibility("default"))) const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

__attribute__((visibility("default"))) const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success (emulated cuBLAS)";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized (emulated cuBLAS)";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid value was used as an argument (emulated cuBLAS)";
    default: return "unknown status (emulated cuBLAS)";
  }
}

}  // extern "C"
