// Internal: batched noisy forward passes (sample propagation, docs/method.md#sample-propagation).
#pragma once

#include <string>
#include <vector>

#include "infoflow/network.hpp"

namespace infoflow::detail {

// K passes per input; row r = x * K + k. Returns S_l = a_l(W_l T_{l-1} + b_l) for every
// layer l = 1..L (index l - 1), each (m K) x d_l row-major, where T_l = S_l + beta Z_l on
// noisy layers (all hidden layers; the last too when noisy_last). Z_l is drawn from
// Philox stream layer_noise(l), row r: the same noise on every backend and thread count.
// backend Cuda runs propagate_cuda; every other backend the CPU path.
std::vector<std::vector<double>> propagate(const Network& net, MatrixView<double> inputs,
                                           std::size_t samples_per_input, double beta,
                                           bool noisy_last, std::uint64_t seed, int threads,
                                           Backend backend = Backend::Cpu);

// The same on the GPU (kernels/noisy_forward.cu): cuBLAS GEMM per layer, then a fused
// bias + activation + Philox noise kernel drawing the same normals as the CPU path, so
// results agree to float64 rounding of the libm calls. Throws ResourceError when no
// device is usable (host/cuda/noisy_forward_absent.cpp in CPU-only builds).
std::vector<std::vector<double>> propagate_cuda(const Network& net, MatrixView<double> inputs,
                                                std::size_t samples_per_input, double beta,
                                                bool noisy_last, std::uint64_t seed);

// x (rows x width, row-major) = activation(x + bias), each row, in SIMD: Highway's
// tanh and exp, within a few ulp of glibc's.
void activate_rows(Activation a, const double* bias, std::size_t width, double* x, std::size_t rows);

// Whether cuBLAS, which propagate_cuda opens at first use (dlopen, not linked), can be
// loaded with every function it needs; if not, *reason says why. False in CPU-only builds.
bool cublas_loadable(std::string* reason);

}  // namespace infoflow::detail
