// Throughput of the Gaussian log-sum-exp primitive per backend, in pairs/s (a pair is one
// query-centre kernel term, n^2 of them whether evaluated or pruned). Centers
// tanh(2 N(0,1)), queries = centres + 0.1 N(0,1), sigma = 0.1: the dense workload of the
// issue; from d ~ 8 up most of its pairs are negligible, which pruning finds. sigma = 1
// makes every pair matter: there pruning must fall back to the exact path at no cost.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace {

struct Data {
  std::vector<double> centers, queries;
};

Data make_data(std::size_t n, std::size_t d) {
  std::mt19937_64 gen(1);
  std::normal_distribution<double> normal;
  Data x;
  x.centers.resize(n * d);
  for (double& v : x.centers) v = std::tanh(2 * normal(gen));
  x.queries = x.centers;
  for (double& v : x.queries) v += 0.1 * normal(gen);
  return x;
}

void BM_LogSumExp(benchmark::State& state, infoflow::Backend backend,
                  infoflow::CudaDistances distances = infoflow::CudaDistances::Auto) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const auto threads = static_cast<int>(state.range(2));
  const bool exact = state.range(3) != 0;
  const double sigma = static_cast<double>(state.range(4)) / 1000;
  if (backend == infoflow::Backend::Cuda && !infoflow::cuda_available()) {
    state.SkipWithError(("no CUDA device: " + infoflow::cuda_unavailable_reason()).c_str());
    return;
  }
  const Data x = make_data(n, d);
  std::vector<double> out(n);
  infoflow::ComputeOptions opt;
  opt.backend = backend;
  opt.threads = threads;
  opt.cuda_distances = distances;
  if (exact) opt.tolerance = 0;  // every pair evaluated: what the roofline counts
  for (auto _ : state) {
    infoflow::log_density({x.queries.data(), n, d}, {x.centers.data(), n, d}, {}, sigma,
                          {out.data(), n}, opt);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["pairs/s"] = benchmark::Counter(static_cast<double>(n) * n * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}

// Arguments: n = m, d, threads (0 = all), exact (1: no pruning), sigma in thousandths.
void Shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t d : {1, 2, 4, 8, 10, 12, 16, 32, 64, 256, 1024}) b->Args({20000, d, 0, 1, 100});
  for (std::int64_t d : {1, 4, 10, 16, 32}) b->Args({20000, d, 0, 0, 100});  // default: pruning on
  for (std::int64_t exact : {1, 0}) b->Args({20000, 10, 0, exact, 1000});  // every pair matters
  b->Args({20000, 10, 1, 1, 100});  // thread scaling
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_LogSumExp, cpu, infoflow::Backend::Cpu)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_LogSumExp, cuda, infoflow::Backend::Cuda)->Apply(Shapes);
// The GEMM formulation (ComputeOptions::cuda_distances), exact, at the d where it may pay:
// bench/gpu/run_on_device.sh times it against cuda/ above to find the crossover.
BENCHMARK_CAPTURE(BM_LogSumExp, cuda_gemm, infoflow::Backend::Cuda, infoflow::CudaDistances::Gemm)
    ->ArgsProduct({{20000}, {10, 32, 64, 256, 1024}, {0}, {1}, {100}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LogSumExp, reference, infoflow::Backend::Reference)
    ->Args({2000, 10, 0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// log_density_backward, every gradient (queries, centres, weights, sigma): both sweeps.
// pairs/s counts each query-centre pair once per call, as the forward's does (the call
// visits every pair twice, once per sweep). The data and sigma are the forward's above;
// the forward runs once, outside the timing. Arguments: n = m, d, threads (0 = all).
void BM_Backward(benchmark::State& state, infoflow::Backend backend) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  if (backend == infoflow::Backend::Cuda && !infoflow::cuda_available()) {
    state.SkipWithError(("no CUDA device: " + infoflow::cuda_unavailable_reason()).c_str());
    return;
  }
  const Data x = make_data(n, d);
  const double sigma = 0.1;
  std::vector<double> ld(n), grad(n, 1.0), gq(n * d), gc(n * d), gw(n);
  infoflow::ComputeOptions opt;
  opt.backend = backend;
  opt.threads = static_cast<int>(state.range(2));
  opt.tolerance = 0;
  infoflow::ComputeOptions fwd = opt;
  fwd.backend = infoflow::Backend::Cpu;
  infoflow::log_density({x.queries.data(), n, d}, {x.centers.data(), n, d}, {}, sigma, {ld.data(), n}, fwd);
  for (auto _ : state) {
    const double gs = infoflow::log_density_backward(
        {x.queries.data(), n, d}, {x.centers.data(), n, d}, {}, sigma, {ld.data(), n}, {grad.data(), n},
        {{gq.data(), gq.size()}, {gc.data(), gc.size()}, {gw.data(), gw.size()}}, opt);
    benchmark::DoNotOptimize(gs);
    benchmark::DoNotOptimize(gq.data());
  }
  state.counters["pairs/s"] = benchmark::Counter(static_cast<double>(n) * n * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}

void BackwardShapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t d : {1, 4, 10, 16, 64}) b->Args({8000, d, 0});
  b->Args({8000, 10, 1});  // thread scaling
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK_CAPTURE(BM_Backward, cpu, infoflow::Backend::Cpu)->Apply(BackwardShapes);
BENCHMARK_CAPTURE(BM_Backward, cuda, infoflow::Backend::Cuda)->Apply(BackwardShapes);
// The scalar sweep (the cpu backward before it was vectorised, now the reference).
BENCHMARK_CAPTURE(BM_Backward, reference, infoflow::Backend::Reference)->Apply(BackwardShapes);

BENCHMARK_MAIN();
