// `infoflow entropy` and `infoflow demo`.
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/progress.hpp"
#include <omp.h>

#include "cli/mpi/mpi_session.hpp"
#include "infoflow/infoflow.hpp"
#include "infoflow/network.hpp"
#include "infoflow/io.hpp"

namespace infoflow::cli {
namespace {

struct EntropyArgs {
  std::string input;
  double sigma = 0;
  std::uint64_t samples_per_center = 1;
  std::uint64_t seed = 0;
  std::string backend = "auto";
  bool bounds = false;
  bool no_control_variate = false;
  int threads = 0;
  double tolerance = ComputeOptions{}.tolerance;
  bool json = false;
};

std::string backend_detail(const EntropyResult& r, int threads) {
  if (r.backend != Backend::Cpu) return std::string(backend_name(r.backend));
  const int nt = cpu_threads(threads);
  return "cpu (" + r.simd_target + ", " + std::to_string(nt) + " threads)";
}

nlohmann::json to_json(const EntropyResult& r, const EntropyArgs& a) {
  nlohmann::json j = {{"entropy_nats", number_or_null(r.entropy_nats)},
                      {"stderr_nats", number_or_null(r.stderr_nats)},
                      {"n", r.n},
                      {"d", r.d},
                      {"sigma", r.sigma},
                      {"samples", r.samples},
                      {"samples_per_center", a.samples_per_center},
                      {"control_variate", !a.no_control_variate},
                      {"seed", a.seed},
                      {"backend", backend_name(r.backend)},
                      {"tolerance", a.tolerance},
                      {"ranks", session().size()},
                      {"seconds", r.seconds}};
  if (!a.input.empty()) j["input"] = a.input;
  if (a.bounds) {
    j["kl_upper_nats"] = number_or_null(r.kl_upper_nats);
    j["bhattacharyya_lower_nats"] = number_or_null(r.bhattacharyya_lower_nats);
  }
  return j;
}

void print_text(const EntropyResult& r, const EntropyArgs& a) {
  std::printf("mixture of %zu Gaussians in d = %zu, sigma = %g%s%s\n", r.n, r.d, r.sigma,
              a.input.empty() ? "" : ", centres from ", a.input.c_str());
  std::printf("  entropy h(g)          %.6f nats  +- %.6f (standard error, %zu MC samples)\n",
              r.entropy_nats, r.stderr_nats, r.samples);
  if (a.bounds) {
    std::printf("  KL upper bound        %.6f nats\n", r.kl_upper_nats);
    std::printf("  Bhattacharyya lower   %.6f nats\n", r.bhattacharyya_lower_nats);
  }
  std::printf("  backend %s, %.3f s", backend_detail(r, a.threads).c_str(), r.seconds);
  if (session().size() > 1) std::printf(", %d MPI ranks (this is rank 0)", session().size());
  std::printf("\n");
}

EntropyOptions options_from(const EntropyArgs& a, ProgressLine& progress) {
  check_threads_option(a.threads);
  check_tolerance_option(a.tolerance);
  EntropyOptions o;
  o.sigma = a.sigma;
  o.samples_per_center = static_cast<std::size_t>(a.samples_per_center);
  o.seed = a.seed;
  o.bounds = a.bounds;
  o.control_variate = !a.no_control_variate;
  o.compute.backend = parse_backend(a.backend);
  o.compute.threads = a.threads;
  o.compute.tolerance = a.tolerance;
  o.compute.progress = [&progress](double f) { progress.update(f); };
  return o;
}

int run_entropy(EntropyArgs a) {
  ProgressLine progress("entropy", session().is_root());
  EntropyOptions o = options_from(a, progress);
  // sigma is checked before the (possibly long) file read.
  if (!(std::isfinite(a.sigma) && a.sigma > 0)) {
    throw InvalidArgument("--sigma must be a finite number > 0, got " + std::to_string(a.sigma));
  }
  const io::Matrix centers = io::map_matrix(a.input);
  // Under mpirun every rank has read and checked its input; from here on they compute as one.
  session().checkpoint();
  session().configure(o.compute);
  a.threads = o.compute.threads;
  const EntropyResult r = mixture_entropy(centers.view(), o);
  progress.finish();
  if (!session().is_root()) return 0;
  note_fallback(o.compute.backend, r.backend);
  if (a.json) {
    std::printf("%s\n", to_json(r, a).dump().c_str());
  } else {
    print_text(r, a);
  }
  return 0;
}

// Centers tanh(2 N(0,1)) in d dimensions: the dense workload of the benchmarks.
std::vector<double> tanh_gaussian_centers(std::size_t n, std::size_t d, std::uint64_t seed) {
  std::vector<double> c(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    standard_normal_rows(seed, i, 1, d, c.data() + i * d);
    for (std::size_t k = 0; k < d; ++k) c[i * d + k] = std::tanh(2 * c[i * d + k]);
  }
  return c;
}

// 3. Information flow: the paper's 12-10-7-5-4-3-2 tanh network on all 4096 12-bit
//    inputs, PyTorch-style initialisation scaled by 4 so that the tanh layers saturate.
void demo_information_flow(const EntropyArgs& a) {
  const std::size_t sizes[] = {12, 10, 7, 5, 4, 3, 2};
  std::vector<double> u(1);
  Network net;
  for (std::size_t i = 0; i + 1 < std::size(sizes); ++i) {
    DenseLayer l{sizes[i], sizes[i + 1], std::vector<double>(sizes[i] * sizes[i + 1]),
                 std::vector<double>(sizes[i + 1]), i + 2 < std::size(sizes) ? Activation::Tanh : Activation::Linear};
    const double bound = 1 / std::sqrt(static_cast<double>(sizes[i]));
    std::size_t row = 1000 * i;
    for (double& w : l.weight) standard_normal_rows(a.seed, row++, 1, 1, u.data()), w = 4 * bound * std::tanh(u[0]);
    for (double& b : l.bias) standard_normal_rows(a.seed, row++, 1, 1, u.data()), b = bound * std::tanh(u[0]);
    net.layers.push_back(l);
  }
  std::vector<double> x(4096 * 12);
  for (std::size_t i = 0; i < 4096; ++i) {
    for (std::size_t k = 0; k < 12; ++k) x[i * 12 + k] = static_cast<double>((i >> (11 - k)) & 1);
  }
  MutualInformationOptions o;
  o.beta = 0.005, o.samples_per_input = 30, o.seed = a.seed;
  o.compute.backend = parse_backend(a.backend), o.compute.threads = a.threads;
  const MutualInformationResult r = mutual_information(net, {x.data(), 4096, 12}, {}, o);
  std::printf("3. information flow in a noisy 12-10-7-5-4-3-2 tanh net, all 4096 12-bit inputs,\n"
              "   beta = 0.005, %zu noisy passes per input (I(X;T) <= ln 4096 = 8.318 nats):\n",
              o.samples_per_input);
  for (const LayerInformation& l : r.layers) {
    std::printf("   layer %zu (width %2zu): I(X;T) = %.3f +- %.3f nats\n", l.layer, l.width,
                l.I_XT_nats, l.I_XT_stderr_nats);
  }
  std::printf("   %.2f s on %s. Layer 2 may exceed layer 1: h(T|X) is a plug-in from %zu\n"
              "   samples per input, biased low (README, 'Bias'). Full runs: infoflow mi --help\n",
              r.seconds, std::string(backend_name(r.backend)).c_str(), o.samples_per_input);
}

int run_demo(const EntropyArgs& base) {
  ProgressLine progress("demo");
  EntropyArgs a = base;
  // 1. Binary input over a Gaussian channel at 0 dB: centres +-1, sigma 1. The mutual
  //    information h(g) - h(noise) has the textbook value 0.336831 nats (oracle 4, docs/method.md#test-oracles).
  a.sigma = 1.0, a.samples_per_center = 200000, a.bounds = true;
  const double bpsk_centres[] = {-1.0, 1.0};
  EntropyOptions o = options_from(a, progress);
  EntropyResult r = mixture_entropy({bpsk_centres, 2, 1}, o);
  const double mi = r.entropy_nats - gaussian_entropy(1, 1.0), exact = 0.336831;
  std::printf("1. binary input (+-1) over Gaussian noise, sigma = 1 (0 dB):\n");
  std::printf("   I = h(g) - h(noise) = %.6f +- %.6f nats; exact 0.336831 -> %.1f standard errors off\n",
              mi, r.stderr_nats, std::abs(mi - exact) / r.stderr_nats);
  std::printf("   pairwise bounds on I: [%.5f, %.5f] (docs/method.md#pairwise-bounds: [0.21907, 0.56622])\n",
              r.bhattacharyya_lower_nats - gaussian_entropy(1, 1.0),
              r.kl_upper_nats - gaussian_entropy(1, 1.0));
  // 2. The dense benchmark workload: n = 20000 centres tanh(2 N(0,1)) in d = 10.
  a.sigma = 0.1, a.samples_per_center = 8;
  o = options_from(a, progress);
  const std::size_t n = 20000, d = 10;
  const std::vector<double> c = tanh_gaussian_centers(n, d, a.seed);
  r = mixture_entropy({c.data(), n, d}, o);
  progress.finish();
  note_fallback(o.compute.backend, r.backend);
  std::printf("2. n = %zu centres tanh(2 N(0,1)), d = %zu, sigma = 0.1:\n", n, d);
  std::printf("   h(g) = %.5f +- %.5f nats, bounds [%.5f, %.5f]\n", r.entropy_nats, r.stderr_nats,
              r.bhattacharyya_lower_nats, r.kl_upper_nats);
  const double pairs = (a.samples_per_center + 2.0) * n * n;
  std::printf("   %.2e kernel pairs in %.3f s = %.2f Gpairs/s on %s\n", pairs, r.seconds,
              pairs / r.seconds / 1e9, backend_detail(r, a.threads).c_str());
  demo_information_flow(a);
  return 0;
}

void add_compute_options(CLI::App* sub, EntropyArgs& a) {
  add_seed_option(sub, a.seed, "Philox seed: same seed, same draws on every backend");
  sub->add_option("--backend", a.backend, "auto | cpu | cuda | reference")->capture_default_str();
  add_threads_option(sub, a.threads);
}

}  // namespace

Command add_entropy_command(CLI::App& app) {
  auto args = std::make_shared<EntropyArgs>();
  CLI::App* sub = app.add_subcommand(
      "entropy", "Differential entropy (nats) of the mixture (1/n) sum_i N(s_i, sigma^2 I)");
  sub->add_option("--input", args->input, "centres: .npy (float32/float64, n x d or n) or .csv")
      ->required();
  add_real_option(sub, "--sigma", args->sigma, 0, std::numeric_limits<double>::max(), true,
                  "standard deviation of each component (> 0)")
      ->required();
  add_count_option(sub, "--samples-per-center", args->samples_per_center, 1,
                   std::numeric_limits<std::uint64_t>::max(),
                   "Monte Carlo draws per centre (>= 1; n times this must fit in memory)");
  add_compute_options(sub, *args);
  add_tolerance_option(sub, args->tolerance);
  sub->add_flag("--bounds", args->bounds, "also the Kolchinsky-Tracey pairwise bounds");
  sub->add_flag("--no-control-variate", args->no_control_variate,
                "the plain Monte Carlo estimator (default subtracts the mean-zero (|z|^2 - d)/2 of each draw)");
  sub->add_flag("--json", args->json, "print one JSON object instead of text");
  return {sub, [args] { return run_entropy(*args); }};
}

Command add_demo_command(CLI::App& app) {
  auto args = std::make_shared<EntropyArgs>();
  CLI::App* sub =
      app.add_subcommand("demo", "Built-in examples with known answers, and a throughput check");
  add_compute_options(sub, *args);
  return {sub, [args] { return run_demo(*args); }};
}

}  // namespace infoflow::cli
