// CUDA backend of the noisy forward passes (sample propagation, docs/method.md#sample-propagation), float64
// throughout: per layer one cuBLAS DGEMM over a chunk of rows, then one fused kernel
// that adds the bias, applies the activation (-> S_l, copied back to the host) and, on
// noisy layers, adds beta Z_l (-> T_l, the next layer's input, which stays on the device).
//
// Rows are r = x K + k as on the CPU. Layer 1's pre-activation is the same for the K
// passes of one input, so its GEMM runs over the chunk's distinct inputs only and the
// fused kernel reads pre-activation row r / K: K times less GEMM work and no replicated
// input matrix. Rows are independent, so a problem larger than device memory runs as
// consecutive chunks of rows; the noise of row r depends on r alone, not on the chunking.
//
// Agreement with the CPU path (host/nn/forward.cpp): the Philox counters, keys and
// Box-Muller arithmetic are the host's exactly (see normal_pair), and the additions and
// products that the CPU rounds separately are rounded separately here too (__dadd_rn /
// __dmul_rn: nvcc would otherwise contract them into FMAs). What may differ is the last
// ulps of the double sin/cos/log/tanh/exp calls (CUDA's libdevice, within 1-2 ulp, vs
// the host's Highway SIMD versions, within 3-4: rng/normal_rows.cpp, nn/activate_rows.cpp)
// and the GEMM's summation order (cuBLAS vs OpenBLAS): ~1e-15 relative per value,
// growing with a layer's fan-in like any float64 dot product.
// The target's --use_fast_math changes only single-precision code: double division,
// sqrt and the double math functions keep their IEEE / documented accuracy.
// Launch shape: bias_act_noise_kernel 256 threads per block (at most 8192 blocks), one
// thread per (row, pair of outputs), grid-stride; the GEMMs are cuBLAS's. Reference: the
// cpu forward pass (host/nn/forward.cpp); tests: CudaCli.MutualInformation* and
// Backends/SpEstimator.*/cuda (mi on the cuda backend against the cpu backend, on a GPU
// or the emulated device), CudaForward.CublasOpensAtFirstUse; bench: bench/bench_mi.cpp.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cublas_api.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/philox_normal.cuh"
#include "lse_implementations.hpp"
#include "nn/forward.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow::detail {
namespace {

// ---- tuning -------------------------------------------------------------------------
// The fused kernel is memory-bound (one read, one or two writes per value) plus a Philox
// call per pair of values; 8 warps per block with a grid-stride loop saturates an H100.
constexpr int kThreads = 256;
// Enough blocks to fill every SM many times over (132 SMs x 8 resident blocks); larger
// problems loop inside the kernel rather than launching millions of tiny blocks.
constexpr unsigned kMaxBlocks = 8192;
// A chunk smaller than this (or than the whole problem) would leave the GEMMs too thin to
// use the device well: below it we refuse rather than crawl.
constexpr std::size_t kMinChunkRows = std::size_t{1} << 16;
// Keeps cuBLAS's int dimensions and every per-chunk element count far from overflow, and
// bounds the time between host copies.
constexpr std::size_t kMaxChunkRows = std::size_t{1} << 24;
// Left free for the context, cuBLAS's workspace, allocator granularity and other users.
constexpr std::size_t kMemHeadroom = std::size_t{256} << 20;

// ---- device side ----------------------------------------------------------------------
// The CPU's activate() (host/nn/network.cpp), expression for expression.
__device__ __forceinline__ double activate_device(Activation a, double x) {
  switch (a) {
    case Activation::Tanh: return tanh(x);
    case Activation::Relu: return x > 0 ? x : 0.0;
    case Activation::LeakyRelu: return x > 0 ? x : __dmul_rn(0.01, x);
    case Activation::Sigmoid: return 1.0 / (1.0 + exp(-x));
    case Activation::Linear: return x;
  }
  return x;
}

struct LayerArgs {
  const double* pre;           // GEMM output: (rows / pre_div) x d; may alias s
  unsigned long long pre_div;  // K on layer 1 (one pre-activation row per input), else 1
  unsigned long long r0;       // global index of the chunk's first row
  unsigned long long rows;     // rows in this chunk
  int d;
  const double* bias;
  Activation act;
  bool noisy;
  double beta;
  std::uint32_t key_lo, key_hi, stream;
  double* s;  // rows x d: S_l
  double* t;  // rows x d: T_l (noisy layers only)
};

// One thread per (row, pair of dims): one Philox call gives both normals of the pair.
// pre may be s itself (layers >= 2 work in place): each element is read, then written,
// by the same thread only, so no __restrict__ on either.
__global__ void __launch_bounds__(kThreads) bias_act_noise_kernel(LayerArgs a) {
  const unsigned long long pairs = (static_cast<unsigned long long>(a.d) + 1) / 2;
  const unsigned long long total = a.rows * pairs, first_pre = a.r0 / a.pre_div;
  const unsigned long long stride = static_cast<unsigned long long>(gridDim.x) * blockDim.x;
  for (unsigned long long e = static_cast<unsigned long long>(blockIdx.x) * blockDim.x +
                              threadIdx.x;
       e < total; e += stride) {
    const unsigned long long i = e / pairs;
    const auto b = static_cast<std::uint32_t>(e - i * pairs);
    const unsigned long long pi = a.pre_div == 1 ? i : (a.r0 + i) / a.pre_div - first_pre;
    const int k = 2 * static_cast<int>(b);
    const bool two = k + 1 < a.d;
    const double* p = a.pre + pi * a.d + k;
    const double v0 = activate_device(a.act, p[0] + __ldg(a.bias + k));
    const double v1 = two ? activate_device(a.act, p[1] + __ldg(a.bias + k + 1)) : 0.0;
    double* s = a.s + i * a.d + k;
    s[0] = v0;
    if (two) s[1] = v1;
    if (!a.noisy) continue;
    const double2 z = normal_pair(a.key_lo, a.key_hi, a.stream, a.r0 + i, b);
    double* t = a.t + i * a.d + k;
    t[0] = __dadd_rn(v0, __dmul_rn(a.beta, z.x));  // the CPU's o + beta * z, unfused
    if (two) t[1] = __dadd_rn(v1, __dmul_rn(a.beta, z.y));
  }
}

// ---- host side ------------------------------------------------------------------------
// RAII owners; the deleters never throw (they may run while unwinding).
struct StreamDestroy {
  void operator()(cudaStream_t s) const noexcept { cudaStreamDestroy(s); }
};
using StreamPtr = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDestroy>;

double gib(double bytes) { return bytes / double(1u << 30); }

// Shapes the device code relies on; the CPU path trusts its callers, but a mismatch here
// would read out of bounds on the device instead of merely computing garbage.
void check_shapes(const Network& net, MatrixView<double> inputs) {
  std::size_t in = inputs.cols;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const DenseLayer& layer = net.layers[l];
    if (layer.in != in || layer.weight.size() != layer.out * layer.in ||
        layer.bias.size() != layer.out || layer.out > static_cast<std::size_t>(INT_MAX) ||
        layer.in > static_cast<std::size_t>(INT_MAX))
      throw InvalidArgument("CUDA forward pass: layer " + std::to_string(l + 1) +
                            " does not fit its input (" + std::to_string(in) + " wide)");
    in = layer.out;
  }
}

struct Plan {
  std::size_t chunk_rows = 0;  // rows per chunk
  std::size_t x_rows = 0;      // distinct inputs a chunk can touch: chunk_rows / K + 2
  std::size_t width = 0;       // widest layer output
};

// Chunk size from free device memory. Per chunk: three chunk_rows x width buffers (S_l,
// and T_{l-1} / T_l ping-ponging; layer 1's pre-activation borrows the T_l buffer not yet
// in use) and the chunk's inputs; resident: the weights.
Plan plan_chunks(const Network& net, std::size_t rows, std::size_t K, std::size_t m,
                 std::size_t d0) {
  Plan plan;
  double fixed = double(kMemHeadroom) + 2.0 * d0 * sizeof(double);
  for (const DenseLayer& l : net.layers) {
    plan.width = std::max(plan.width, l.out);
    fixed += (double(l.out) * l.in + l.out) * sizeof(double);
  }
  const double per_row =
      std::max(3.0 * plan.width + double(d0) / double(K), 1.0) * sizeof(double);
  std::size_t free_b = 0, total_b = 0;
  INFOFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const std::size_t min_rows = std::min(rows, kMinChunkRows);
  const double need = fixed + double(min_rows) * per_row;
  if (need > double(free_b)) {
    char msg[200];
    std::snprintf(msg, sizeof msg,
                  "CUDA forward pass needs %.2f GiB of GPU memory (weights and a chunk of %zu "
                  "rows), %.2f GiB free",
                  gib(need), min_rows, gib(double(free_b)));
    throw ResourceError(msg);
  }
  // >= min_rows >= 1 by the check above; clamped so that the conversion is safe
  const double fit = std::min((double(free_b) - fixed) / per_row, double(kMaxChunkRows));
  plan.chunk_rows = std::min({rows, kMaxChunkRows, static_cast<std::size_t>(fit)});
  plan.x_rows = std::min(m, plan.chunk_rows / K + 2);
  return plan;
}

// C = T W^T, row-major: T n x in, W out x in (PyTorch's layout), C n x out. cuBLAS is
// column-major, where a row-major a x b matrix reads as its b x a transpose (ld = b). So
// compute C^T (out x n, ldc = out) = W T^T: W is op(A) = A^T for A = W's buffer read as
// in x out (lda = in), and T^T is T's buffer as it stands, in x n (ldb = in).
void gemm(cublasHandle_t h, const double* w, std::size_t out, std::size_t in, const double* t,
          std::size_t n, double* c) {
  const double one = 1.0, zero = 0.0;
  const int ld_in = static_cast<int>(std::max<std::size_t>(in, 1));
  INFOFLOW_CUBLAS_CHECK(cublas().dgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out),
                                    static_cast<int>(n), static_cast<int>(in), &one, w, ld_in,
                                    t, ld_in, &zero, c,
                                    static_cast<int>(std::max<std::size_t>(out, 1))));
}

void launch_layer(const LayerArgs& a, cudaStream_t stream) {
  const unsigned long long total = a.rows * ((static_cast<unsigned long long>(a.d) + 1) / 2);
  if (total == 0) return;  // a zero-block launch is an error
  const auto blocks =
      static_cast<unsigned>(std::min<unsigned long long>((total + kThreads - 1) / kThreads,
                                                         kMaxBlocks));
  INFOFLOW_LAUNCH(bias_act_noise_kernel, blocks, kThreads, 0, stream, a);
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
}

struct Device {
  cudaStream_t stream;
  cublasHandle_t blas;
  std::vector<DeviceBuffer<double>> w, b;  // per layer
  DeviceBuffer<double> x, s, t_a, t_b;     // the chunk's inputs and work buffers
};

struct Problem {
  const Network& net;
  MatrixView<double> inputs;
  std::size_t K;
  double beta;
  bool noisy_last;
  std::uint64_t seed;
};

// Rows [r0, r0 + n): every layer, S_l copied into out[l].
void run_chunk(const Problem& p, Device& dev, std::size_t r0, std::size_t n,
               std::vector<std::vector<double>>& out) {
  const std::size_t L = p.net.layers.size(), d0 = p.inputs.cols;
  const std::size_t x0 = r0 / p.K, nx = (r0 + n - 1) / p.K + 1 - x0;
  INFOFLOW_CUDA_CHECK(cudaMemcpyAsync(dev.x.get(), p.inputs.data + x0 * d0,
                                      nx * d0 * sizeof(double), cudaMemcpyHostToDevice,
                                      dev.stream));
  const double* cur = dev.x.get();  // T_{l-1}
  double *t_next = dev.t_b.get(), *t_free = dev.t_a.get();
  for (std::size_t l = 0; l < L; ++l) {
    const DenseLayer& layer = p.net.layers[l];
    // Layer 1: nx input rows into the idle T buffer; later layers: n rows into S, in place.
    double* pre = l == 0 ? t_free : dev.s.get();
    gemm(dev.blas, dev.w[l].get(), layer.out, layer.in, cur, l == 0 ? nx : n, pre);
    const bool noisy = l + 1 < L || p.noisy_last;
    LayerArgs a{};
    a.pre = pre, a.pre_div = l == 0 ? p.K : 1, a.r0 = r0, a.rows = n;
    a.d = static_cast<int>(layer.out), a.bias = dev.b[l].get(), a.act = layer.activation;
    a.noisy = noisy, a.beta = p.beta;
    a.key_lo = static_cast<std::uint32_t>(p.seed);
    a.key_hi = static_cast<std::uint32_t>(p.seed >> 32);
    a.stream = static_cast<std::uint32_t>(rng::layer_noise(l + 1));  // rng::normal_row's
    a.s = dev.s.get(), a.t = t_next;
    launch_layer(a, dev.stream);
    INFOFLOW_CUDA_CHECK(cudaMemcpyAsync(out[l].data() + r0 * layer.out, dev.s.get(),
                                        n * layer.out * sizeof(double),
                                        cudaMemcpyDeviceToHost, dev.stream));
    if (!noisy) break;  // only the last layer can be noiseless
    cur = t_next;
    std::swap(t_next, t_free);
  }
  // The copies into pageable host memory already block; this also surfaces any
  // asynchronous fault here, attributed to this chunk.
  INFOFLOW_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
}

}  // namespace

std::vector<std::vector<double>> propagate_cuda(const Network& net, MatrixView<double> inputs,
                                                std::size_t K, double beta, bool noisy_last,
                                                std::uint64_t seed) {
  std::string reason;
  if (!cuda_device_usable(&reason))
    throw ResourceError("CUDA forward pass unavailable: " + reason);
  check_shapes(net, inputs);
  const std::size_t rows = inputs.rows * K, L = net.layers.size();
  std::vector<std::vector<double>> out(L);
  for (std::size_t l = 0; l < L; ++l) out[l].resize(rows * net.layers[l].out);
  if (rows == 0 || L == 0) return out;

  cudaStream_t raw_stream = nullptr;
  INFOFLOW_CUDA_CHECK(cudaStreamCreateWithFlags(&raw_stream, cudaStreamNonBlocking));
  const StreamPtr stream(raw_stream);
  cublasHandle_t raw_blas = nullptr;
  INFOFLOW_CUBLAS_CHECK(cublas().create(&raw_blas));
  const Cublas blas(raw_blas);
  INFOFLOW_CUBLAS_CHECK(cublas().set_stream(raw_blas, raw_stream));

  // Planned after cublasCreate, so the handle's own allocations are already accounted.
  const Plan plan = plan_chunks(net, rows, K, inputs.rows, inputs.cols);
  Device dev{raw_stream, raw_blas, {}, {}, {}, {}, {}, {}};
  for (const DenseLayer& layer : net.layers) {
    dev.w.push_back(device_upload(layer.weight, raw_stream));
    dev.b.push_back(device_upload(layer.bias, raw_stream));
  }
  dev.x = device_alloc<double>(plan.x_rows * inputs.cols);
  dev.s = device_alloc<double>(plan.chunk_rows * plan.width);
  dev.t_a = device_alloc<double>(plan.chunk_rows * plan.width);
  dev.t_b = device_alloc<double>(plan.chunk_rows * plan.width);

  const Problem problem{net, inputs, K, beta, noisy_last, seed};
  for (std::size_t r0 = 0; r0 < rows; r0 += plan.chunk_rows)
    run_chunk(problem, dev, r0, std::min(plan.chunk_rows, rows - r0), out);
  return out;
}

}  // namespace infoflow::detail
