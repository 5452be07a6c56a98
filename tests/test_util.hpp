// Shared helpers of the test suite: backends to sweep, random data, 1-D quadrature.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"
#include "infoflow/network.hpp"

namespace infoflow::testing {

// Runs body(target name) once on every SIMD target this CPU supports and Highway
// compiled: the cpu code differs by target, and the widest alone is what other tests see.
template <class Body>
void on_every_simd_target(const Body& body) {
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    body(hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Every backend a test sweeps; cuda ones skip at run time without a device.
inline std::vector<Backend> all_backends() {
  return {Backend::Reference, Backend::Cpu, Backend::Cuda};
}

// Readable backend names in gtest/ctest output instead of "4-byte object".
}  // namespace infoflow::testing
namespace infoflow {
inline void PrintTo(Backend b, std::ostream* os) { *os << backend_name(b); }
}  // namespace infoflow
namespace infoflow::testing {

inline std::string param_name(const ::testing::TestParamInfo<Backend>& info) {
  return std::string(backend_name(info.param));
}

#define INFOFLOW_SKIP_IF_UNAVAILABLE(backend)                                         \
  do {                                                                                \
    if ((backend) == ::infoflow::Backend::Cuda && !::infoflow::cuda_available()) {     \
      GTEST_SKIP() << "no CUDA device: " << ::infoflow::cuda_unavailable_reason();    \
    }                                                                                 \
  } while (0)

inline std::vector<double> random_matrix(std::size_t rows, std::size_t cols, unsigned seed,
                                         double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> x(rows * cols);
  for (double& v : x) v = normal(gen);
  return x;
}

// A dense network of the given widths (sizes.size() - 1 layers, acts[i] for layer i), all
// weights and biases uniform in [-1.5, 1.5] drawn layer by layer, weights first.
inline Network random_network(const std::vector<std::size_t>& sizes, const std::vector<Activation>& acts,
                              unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  Network net;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    DenseLayer l{sizes[i], sizes[i + 1], std::vector<double>(sizes[i] * sizes[i + 1]),
                 std::vector<double>(sizes[i + 1]), acts[i]};
    for (double& v : l.weight) v = u(gen);
    for (double& v : l.bias) v = u(gen);
    net.layers.push_back(l);
  }
  return net;
}

// h(g) = -integral g log g for a 1-D equal-weight mixture, by the trapezoid rule on a grid
// of `points` nodes covering every centre +- 12 sigma (tails beyond contribute < 1e-30).
inline double quadrature_entropy_1d(const std::vector<double>& centers, double sigma,
                                    std::size_t points = 400001) {
  double lo = centers[0], hi = centers[0];
  for (double c : centers) lo = std::min(lo, c), hi = std::max(hi, c);
  lo -= 12 * sigma, hi += 12 * sigma;
  const double h = (hi - lo) / (points - 1);
  const double norm = 1 / (centers.size() * std::sqrt(2 * M_PI) * sigma);
  double sum = 0;
  for (std::size_t i = 0; i < points; ++i) {
    const double x = lo + i * h;
    double g = 0;
    for (double c : centers) g += std::exp(-(x - c) * (x - c) / (2 * sigma * sigma));
    g *= norm;
    const double f = g > 0 ? -g * std::log(g) : 0.0;
    sum += (i == 0 || i + 1 == points) ? f / 2 : f;
  }
  return sum * h;
}

}  // namespace infoflow::testing
