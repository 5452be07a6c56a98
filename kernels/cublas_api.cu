// The dlopen'ed cuBLAS of kernels/cublas_api.cuh (why dlopen: see there). The emulated
// build opens its stand-in (cuda_emulation/cublas.cpp) from INFOFLOW_CUBLAS_DIR the same way.
// Test: CudaForward.CublasOpensAtFirstUse.
#include "kernels/cublas_api.cuh"

#include <dlfcn.h>

#include "infoflow/infoflow.hpp"
#include "nn/forward.hpp"

namespace infoflow::detail {
namespace {

template <class F>
void resolve(void* lib, const char* name, F& f, std::string& error) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (f == nullptr && error.empty()) error = std::string("symbol ") + name + " not found in libcublas";
}

CublasApi load_cublas() {
  CublasApi api{};
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  // The toolkit's directory first (where the build found it), then the loader's path.
  void* lib = dlopen((std::string(INFOFLOW_CUBLAS_DIR) + "/" + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    api.error = "cannot load " + soname + " (" + (why ? why : "unknown reason") + ")";
    return api;
  }
  resolve(lib, "cublasCreate_v2", api.create, api.error);
  resolve(lib, "cublasDestroy_v2", api.destroy, api.error);
  resolve(lib, "cublasSetStream_v2", api.set_stream, api.error);
  resolve(lib, "cublasDgemm_v2", api.dgemm, api.error);
  resolve(lib, "cublasGetStatusName", api.status_name, api.error);
  resolve(lib, "cublasGetStatusString", api.status_string, api.error);
  return api;  // the library stays open for the life of the process
}

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = load_cublas();  // thread-safe, once per process
  if (!api.error.empty()) throw ResourceError("cuBLAS unavailable: " + api.error);
  return api;
}

void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line) {
  throw ResourceError(std::string("cuBLAS call ") + call + " failed: " + cublas().status_name(st) + " (" +
                      cublas().status_string(st) + ") at " + file + ":" + std::to_string(line));
}

bool cublas_loadable(std::string* reason) {
  try {
    cublas();
    return true;
  } catch (const ResourceError& e) {
    if (reason != nullptr) *reason = e.what();
    return false;
  }
}

}  // namespace infoflow::detail
