// The SP estimator on the paper's 12-10-7-5-4-3-2 tanh network with all 4096 12-bit
// inputs: noisy forward-pass throughput (samples x layers / s) and a whole `mi` run
// (I(X;T_l) and I(Y;T_l) of five layers) for K samples per input.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "infoflow/network.hpp"

namespace {

infoflow::Network szt_network() {
  std::mt19937_64 gen(0);
  const std::size_t sizes[] = {12, 10, 7, 5, 4, 3, 2};
  infoflow::Network net;
  for (std::size_t i = 0; i + 1 < std::size(sizes); ++i) {
    std::uniform_real_distribution<double> u(-4 / std::sqrt(double(sizes[i])), 4 / std::sqrt(double(sizes[i])));
    infoflow::DenseLayer l{sizes[i], sizes[i + 1], std::vector<double>(sizes[i] * sizes[i + 1]),
                           std::vector<double>(sizes[i + 1]),
                           i + 2 < std::size(sizes) ? infoflow::Activation::Tanh : infoflow::Activation::Linear};
    for (double& v : l.weight) v = u(gen);
    for (double& v : l.bias) v = u(gen) / 4;
    net.layers.push_back(l);
  }
  return net;
}

std::vector<double> szt_inputs() {
  std::vector<double> x(4096 * 12);
  for (std::size_t i = 0; i < 4096; ++i) {
    for (std::size_t k = 0; k < 12; ++k) x[i * 12 + k] = (i >> (11 - k)) & 1;
  }
  return x;
}

void BM_Forward(benchmark::State& state) {
  const auto net = szt_network();
  const auto x = szt_inputs();
  const auto k = static_cast<std::size_t>(state.range(0));
  infoflow::ComputeOptions cpu;
  cpu.backend = infoflow::Backend::Cpu;
  for (auto _ : state) {
    auto s = infoflow::noisy_passes(net, {x.data(), 4096, 12}, k, 0.005, false, 1, cpu);
    benchmark::DoNotOptimize(s.data());
  }
  state.counters["samples*layers/s"] = benchmark::Counter(
      4096.0 * k * net.layers.size() * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Forward)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MutualInformation(benchmark::State& state) {
  const auto net = szt_network();
  const auto x = szt_inputs();
  std::vector<std::int64_t> y(4096);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = __builtin_popcountll(i) % 2;
  infoflow::MutualInformationOptions o;
  o.beta = 0.005;
  o.samples_per_input = static_cast<std::size_t>(state.range(0));
  o.compute.backend = infoflow::Backend::Cpu;
  for (auto _ : state) {
    auto r = infoflow::mutual_information(net, {x.data(), 4096, 12}, {y.data(), y.size()}, o);
    benchmark::DoNotOptimize(r.layers.data());
  }
}
BENCHMARK(BM_MutualInformation)->Arg(10)->Arg(100)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

// As the CLI runs (infoflow::single_threaded_blas): OpenBLAS single-threaded, its pool stopped.
int main(int argc, char** argv) {
  infoflow::single_threaded_blas();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
