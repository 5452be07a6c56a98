// Noisy forward passes: one GEMM per layer over all m K rows (OpenBLAS), then a fused
// bias + activation + noise sweep.
#include "nn/forward.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <cblas.h>
#include <omp.h>

#include "lse_dispatch.hpp"
#include "host_memory.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow::detail {

std::vector<std::vector<double>> propagate(const Network& net, MatrixView<double> inputs,
                                           std::size_t K, double beta, bool noisy_last,
                                           std::uint64_t seed, int threads, Backend backend) {
  const std::size_t rows = inputs.rows * K, L = net.layers.size();
  double widths = static_cast<double>(inputs.cols);
  for (const DenseLayer& l : net.layers) widths += 2.0 * l.out;  // S_l kept, T_l transient
  require_memory(widths * rows * sizeof(double),
                 "the noisy forward passes (" + std::to_string(inputs.rows) + " inputs x " +
                     std::to_string(K) + " samples; lower --samples-per-input)");
  if (backend == Backend::Cuda) return propagate_cuda(net, inputs, K, beta, noisy_last, seed);
  std::vector<double> t(rows * inputs.cols);  // T_{l-1}
  for (std::size_t r = 0; r < rows; ++r) {
    std::copy(inputs.data + (r / K) * inputs.cols, inputs.data + (r / K + 1) * inputs.cols,
              t.begin() + r * inputs.cols);
  }
  std::vector<std::vector<double>> s(L);
  for (std::size_t l = 0; l < L; ++l) {
    const DenseLayer& layer = net.layers[l];
    std::vector<double>& out = s[l];
    out.resize(rows * layer.out);
    // out = T_{l-1} W^T: (rows x in) (in x out), W stored out x in as PyTorch does.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                static_cast<int>(layer.out), static_cast<int>(layer.in), 1.0, t.data(),
                static_cast<int>(layer.in), layer.weight.data(), static_cast<int>(layer.in), 0.0,
                out.data(), static_cast<int>(layer.out));
    const bool noisy = l + 1 < L || noisy_last;
    std::vector<double> next(noisy ? rows * layer.out : 0);
    // Row blocks, so that the noise is drawn in batches (rng::normal_rows).
    constexpr std::size_t kRowBlock = 256;
#pragma omp parallel num_threads(cpu_threads(threads))
    {
      std::vector<double> z(kRowBlock * layer.out);
#pragma omp for schedule(static)
      for (std::size_t r0 = 0; r0 < rows; r0 += kRowBlock) {
        const std::size_t n = std::min(kRowBlock, rows - r0);
        double* o = out.data() + r0 * layer.out;
        activate_rows(layer.activation, layer.bias.data(), layer.out, o, n);
        if (!noisy) continue;
        rng::normal_rows(seed, rng::layer_noise(l + 1), r0, n, layer.out, z.data());
        for (std::size_t i = 0; i < n * layer.out; ++i) next[r0 * layer.out + i] = o[i] + beta * z[i];
      }
    }
    if (noisy) t.swap(next);
    else t = out;
  }
  return s;
}

}  // namespace infoflow::detail

namespace infoflow {

std::vector<std::vector<double>> noisy_passes(const Network& net, MatrixView<double> inputs,
                                              std::size_t samples_per_input, double beta,
                                              bool noisy_last_layer, std::uint64_t seed,
                                              const ComputeOptions& compute) {
  if (net.layers.empty()) throw InvalidArgument("the network has no layers");
  detail::check_matrix(inputs, "inputs");
  if (inputs.cols != net.input_dim()) {
    throw InvalidArgument("inputs have " + std::to_string(inputs.cols) +
                          " columns but the first layer expects " + std::to_string(net.input_dim()));
  }
  if (samples_per_input < 1) throw InvalidArgument("samples per input must be >= 1");
  if (!(beta >= 0) || !std::isfinite(beta)) throw InvalidArgument("beta must be a finite number >= 0");
  detail::check_compute(compute);
  return detail::propagate(net, inputs, samples_per_input, beta, noisy_last_layer, seed, compute.threads,
                           resolve_backend(compute.backend));
}

}  // namespace infoflow
