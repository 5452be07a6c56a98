// The fast backends against the float64 reference on random inputs: awkward sizes (1,
// primes, non-multiples of every tile), d from 1 to 4096, sigma from 1e-4 to 1e3 times the
// data scale. Tolerances are the accuracy contract of issue 3 and README "Accuracy".
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <numeric>
#include <string>
#include <vector>

#include "cuda/chunk_fallback.hpp"
#include "cuda/gemm_lse.hpp"
#include "cuda/segment_layout.hpp"
#include "lse_implementations.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

class FastBackend : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
};

struct Shape {
  std::size_t m, n, d;
};

// The per-query log-sum-exp at sigma comparable to the data scale, where float32 direct
// differences lose nothing that matters: |fast - reference| <= 1e-5 (1 + |reference|).
TEST_P(FastBackend, LogSumExpMatchesReference) {
  const Shape shapes[] = {{1, 1, 1},     {7, 1, 3},     {1, 13, 1},     {37, 101, 5},
                          {129, 257, 17}, {33, 61, 1000}, {500, 997, 10}, {3, 1031, 2}};
  unsigned seed = 100;
  for (const Shape& s : shapes) {
    for (double alpha : {0.5, 0.03, 4.0}) {
      ++seed;
      const auto q = testing::random_matrix(s.m, s.d, seed);
      const auto c = testing::random_matrix(s.n, s.d, seed + 1000);
      std::vector<double> ref(s.m), fast(s.m);
      ComputeOptions o;
      o.backend = Backend::Reference;
      log_sum_exp_gaussian({q.data(), s.m, s.d}, {c.data(), s.n, s.d}, {}, alpha / s.d,
                           {ref.data(), s.m}, o);
      o.backend = GetParam();
      log_sum_exp_gaussian({q.data(), s.m, s.d}, {c.data(), s.n, s.d}, {}, alpha / s.d,
                           {fast.data(), s.m}, o);
      for (std::size_t i = 0; i < s.m; ++i) {
        ASSERT_TRUE(std::isfinite(fast[i]));
        ASSERT_NEAR(fast[i], ref[i], 1e-5 * (1 + std::abs(ref[i])))
            << "m=" << s.m << " n=" << s.n << " d=" << s.d << " alpha=" << alpha << " row " << i;
      }
    }
  }
}

// Weighted centres, zero weights included: the fast path must skip exp(-inf) terms
// without NaN, and match the reference.
TEST_P(FastBackend, WeightedLogSumExp) {
  const std::size_t m = 50, n = 300, d = 3;
  const auto q = testing::random_matrix(m, d, 1);
  const auto c = testing::random_matrix(n, d, 2);
  std::vector<double> w(n);
  double sum = 0;
  for (std::size_t j = 0; j < n; ++j) w[j] = (j % 7 == 0) ? 0.0 : 1.0 + (j % 5), sum += w[j];
  for (double& v : w) v /= sum;
  std::vector<double> ref(m), fast(m);
  ComputeOptions o;
  o.backend = Backend::Reference;
  log_density({q.data(), m, d}, {c.data(), n, d}, {w.data(), n}, 0.3, {ref.data(), m}, o);
  o.backend = GetParam();
  log_density({q.data(), m, d}, {c.data(), n, d}, {w.data(), n}, 0.3, {fast.data(), m}, o);
  for (std::size_t i = 0; i < m; ++i) EXPECT_NEAR(fast[i], ref[i], 1e-5 * (1 + std::abs(ref[i])));
}

// The entropy contract: <= 1e-5 relative to the reference (same seed, same draws) for
// sigma from 1e-4 to 1e3 times the data scale and d from 1 to 4096; never NaN or inf.
TEST_P(FastBackend, EntropyMatchesReferenceAcrossScales) {
  const Shape shapes[] = {{0, 1, 1}, {0, 200, 1}, {0, 97, 2}, {0, 150, 12}, {0, 40, 1000},
                          {0, 9, 4096}};
  for (const Shape& s : shapes) {
    const auto c = testing::random_matrix(s.n, s.d, static_cast<unsigned>(s.n * 31 + s.d));
    for (double sigma : {1e-4, 1e-2, 1.0, 1e3}) {
      EntropyOptions o;
      o.sigma = sigma;
      o.samples_per_center = 3;
      o.seed = 42;
      o.bounds = true;
      o.compute.backend = Backend::Reference;
      const EntropyResult ref = mixture_entropy({c.data(), s.n, s.d}, o);
      o.compute.backend = GetParam();
      const EntropyResult fast = mixture_entropy({c.data(), s.n, s.d}, o);
      const std::string where =
          "n=" + std::to_string(s.n) + " d=" + std::to_string(s.d) + " sigma=" + std::to_string(sigma);
      for (auto [a, b] : {std::pair{fast.entropy_nats, ref.entropy_nats},
                          std::pair{fast.kl_upper_nats, ref.kl_upper_nats},
                          std::pair{fast.bhattacharyya_lower_nats, ref.bhattacharyya_lower_nats}}) {
        ASSERT_TRUE(std::isfinite(a)) << where;
        EXPECT_NEAR(a, b, 1e-5 * std::max(1.0, std::abs(b))) << where;
      }
      // With the control variate a standard error can be as small as the float32 rounding of
      // log g (separated centres, tiny sigma): then it agrees only within the contract above.
      EXPECT_NEAR(fast.stderr_nats, ref.stderr_nats, 1e-3 * ref.stderr_nats + 1e-5 * std::max(1.0, std::abs(ref.entropy_nats)))
          << where;
    }
  }
}

// Thread count and tiling must not change a thing beyond float summation order.
TEST_P(FastBackend, ThreadCountDoesNotChangeResult) {
  const std::size_t n = 777, d = 6;
  const auto c = testing::random_matrix(n, d, 5);
  EntropyOptions o;
  o.sigma = 0.2;
  o.compute.backend = GetParam();
  o.compute.threads = 1;
  const double one = mixture_entropy({c.data(), n, d}, o).entropy_nats;
  o.compute.threads = 2;
  EXPECT_NEAR(mixture_entropy({c.data(), n, d}, o).entropy_nats, one, 1e-9 * std::abs(one));
}

INSTANTIATE_TEST_SUITE_P(Backends, FastBackend, ::testing::Values(Backend::Cpu, Backend::Cuda),
                         testing::param_name);

TEST(BackendSelection, AutoFallsBackToCpuWithoutDevice) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(resolve_backend(Backend::Auto), Backend::Cpu);
  EXPECT_FALSE(cuda_unavailable_reason().empty());
  EXPECT_THROW(resolve_backend(Backend::Cuda), ResourceError);
  const double c[] = {0.0, 1.0};
  EntropyOptions o;
  o.sigma = 1;
  EXPECT_EQ(mixture_entropy({c, 2, 1}, o).backend, Backend::Cpu);
}

TEST(BackendSelection, DeviceInputWithoutDeviceIsAResourceError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present (tests/test_device_input.cpp runs instead)";
  const double x[] = {0.0, 1.0};
  std::vector<double> out(2);
  try {
    log_density_on_device({x, 2, 1, 1, DType::Float64}, {x, 2, 1, 1, DType::Float64}, {}, 1.0, {out.data(), 2});
    ADD_FAILURE() << "no error";
  } catch (const ResourceError& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA backend unavailable"), std::string::npos) << e.what();
  }
  EntropyOptions o;
  o.sigma = 1;
  try {
    mixture_entropy_on_device({x, 2, 1, 1, DType::Float64}, {}, o);
    ADD_FAILURE() << "no error";
  } catch (const ResourceError& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA backend unavailable"), std::string::npos) << e.what();
  }
}

// threads = 0 means every core, whatever OpenMP's process-wide default has been lowered to
// by a library loaded beside infoflow (PyTorch lowers it at import); OMP_NUM_THREADS, the
// user's own choice, stands.
TEST(BackendSelection, ZeroThreadsIsEveryCoreUnlessTheUserSetOmpNumThreads) {
  const char* env = std::getenv("OMP_NUM_THREADS");
  const std::string saved = env ? env : "";
  const int before = omp_get_max_threads();
  unsetenv("OMP_NUM_THREADS");
  omp_set_num_threads(1);  // what an earlier import did to the process
  EXPECT_EQ(cpu_threads(0), omp_get_num_procs());
  EXPECT_EQ(cpu_threads(3), 3);
  setenv("OMP_NUM_THREADS", "1", 1);
  EXPECT_EQ(cpu_threads(0), 1);
  if (env) setenv("OMP_NUM_THREADS", saved.c_str(), 1); else unsetenv("OMP_NUM_THREADS");
  omp_set_num_threads(before);
}

TEST(BackendSelection, NamesRoundTrip) {
  for (Backend b : {Backend::Auto, Backend::Reference, Backend::Cpu, Backend::Cuda}) {
    EXPECT_EQ(parse_backend(backend_name(b)), b);
  }
  EXPECT_THROW(parse_backend("gpu"), InvalidArgument);
}

// The GPU's out-of-memory fallback (kernels/lse_dense.cu) shrinks its query chunk
// by halves in whole blocks until one block fails too.
TEST(CpuBackend, OnePassFoldKeepsTheTwoPassAccuracy) {
  // d <= 2 folds tiles in one pass (lse_cpu.cpp, TileSumsOnePass), relative to each
  // query's running max, and refolds a tile two-pass when its max rises more than 2
  // above. Here every query's first tile holds a centre 9 sigma away (running max -58 in
  // log2 units) and its second the one that dominates, 0.3-0.4 sigma away: a rise of 58.
  // Folded relative to the old max, x = e - max would keep only the bits of ulp(58) and
  // the result drift by ~1e-6 (measured with the headroom at 64: 1.4e-6 worst); the
  // two-pass refold keeps it at 1.2e-7. Tiles are 512 centres wide at d = 1 (tile_width). The data are exact in float32 in sigma units (alpha = 1/2,
  // centres mirrored around 0), so the float64 reference measures the fold alone.
  const std::size_t pairs = 256, m = 2 * pairs, n = 4 * pairs;
  std::vector<double> q(m), c(n);
  for (std::size_t i = 0; i < pairs; ++i) {
    const double p = (static_cast<double>(i) + 0.5) * 64, near = 0.3125 + static_cast<double>(i % 7) / 64;
    q[2 * i] = p, q[2 * i + 1] = -p;
    c[2 * i] = p + 9, c[2 * i + 1] = -(p + 9);                  // the first tile: far
    c[m + 2 * i] = p + near, c[m + 2 * i + 1] = -(p + near);  // the second: near
  }
  std::vector<double> ref(m), cpu(m);
  ComputeOptions o;
  o.tolerance = 0;
  o.backend = Backend::Reference;
  log_sum_exp_gaussian({q.data(), m, 1}, {c.data(), n, 1}, {}, 0.5, {ref.data(), m}, o);
  o.backend = Backend::Cpu;
  log_sum_exp_gaussian({q.data(), m, 1}, {c.data(), n, 1}, {}, 0.5, {cpu.data(), m}, o);
  for (std::size_t i = 0; i < m; ++i) EXPECT_NEAR(cpu[i], ref[i], 3e-7) << "query " << i;
}

// The cpu backend dispatches at run time to the widest SIMD target the CPU has, and the
// targets differ in code (AVX-512: a 4 x 4-vector register block and VSCALEFPS in the
// exp2; narrower ones: 4 x 2 vectors and the exponent-bit add). The other tests see only
// the widest; here every target this CPU supports runs against the float64 reference, on
// the exact path and the pruned one, with tile remainders, zero weights and d in 1..33
// (AVX-512: queries pre-broadcast up to d = 32, broadcast per step at 33).
TEST(CpuBackend, EverySimdTargetMatchesReference) {
  const Shape shapes[] = {{37, 1031, 1}, {61, 700, 2}, {50, 333, 4}, {45, 1100, 10}, {30, 400, 32}, {21, 129, 33}};
  std::vector<std::string> seen;
  testing::on_every_simd_target([&](const char* target) {
    seen.push_back(cpu_simd_target());
    EXPECT_EQ(seen.back(), target);
    unsigned seed = 500;
    for (const Shape& s : shapes) {
      const auto q = testing::random_matrix(s.m, s.d, ++seed);
      const auto c = testing::random_matrix(s.n, s.d, seed + 1000);
      std::vector<double> w(s.n, 1.0);
      for (std::size_t j = 0; j < s.n; j += 7) w[j] = 0;  // zero weights: exp(-inf) terms
      const double total = std::accumulate(w.begin(), w.end(), 0.0);
      for (double& x : w) x /= total;
      for (double tolerance : {0.0, 1e-6}) {
        std::vector<double> ref(s.m), cpu(s.m);
        ComputeOptions o;
        o.tolerance = tolerance;
        o.backend = Backend::Reference;
        log_sum_exp_gaussian({q.data(), s.m, s.d}, {c.data(), s.n, s.d}, {w.data(), s.n},
                             2.0 / s.d, {ref.data(), s.m}, o);
        o.backend = Backend::Cpu;
        log_sum_exp_gaussian({q.data(), s.m, s.d}, {c.data(), s.n, s.d}, {w.data(), s.n},
                             2.0 / s.d, {cpu.data(), s.m}, o);
        for (std::size_t i = 0; i < s.m; ++i) {
          ASSERT_NEAR(cpu[i], ref[i], 1e-5 * (1 + std::abs(ref[i])) + std::log1p(tolerance))
              << seen.back() << " d=" << s.d << " tolerance=" << tolerance << " row " << i;
        }
      }
    }
  });
  ASSERT_FALSE(seen.empty());
  std::string names;
  for (const auto& n : seen) names += n + " ";
  std::printf("[ SIMD targets checked ] %s\n", names.c_str());
}

TEST(GpuOutOfMemory, ChunksShrinkByHalvesInWholeBlocks) {
  std::vector<std::size_t> seen;
  for (std::size_t rows = 1000000; rows != 0; rows = detail::smaller_chunk(rows, 128)) seen.push_back(rows);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[1], 499968u);  // 1e6 / 2 rounded down to a multiple of 128
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i] % 128, 0u);
    EXPECT_LT(seen[i], seen[i - 1]);
    EXPECT_GE(seen[i], seen[i - 1] / 2 - 128);
  }
  EXPECT_EQ(seen.back(), 128u);
  EXPECT_EQ(detail::smaller_chunk(100, 128), 0u);  // less than one block: nothing smaller
}

// The cuda backend's GEMM formulation at large d (cuda/gemm_lse.hpp), run on the host in
// the kernel's order: dot products in float64 from the float32 rows, per query row 32
// lanes over the columns of each 4096-wide block, their tree merge (as the warp
// shuffles), the merge into the running sums. Against the float64 direct sum on the same
// float32 rows, so only the expansion is measured: at the experiments' scales (SZT: d =
// 12, tanh layers at sigma = 0.005, ~200 sigma from the mean; MNIST-like: d = 1024,
// ReLU activations up to ~50 sigma) it must agree to 1e-9, far inside the 1e-5 contract.
// Zero weights give -inf terms, a query whose weights are all zero gives -inf.
TEST(CudaGemm, ExpansionInFloat64KeepsTheDirectSumAtExperimentScales) {
  struct Case {
    std::size_t m, n, d;
    double scale;  // data spread in sigma units
    bool relu;
  };
  for (const Case& k : {Case{50, 5000, 12, 200, false}, Case{8, 4500, 1024, 50, true}}) {
    std::mt19937_64 gen(k.d);
    std::normal_distribution<double> z;
    auto draw = [&](std::size_t rows) {
      std::vector<float> x(rows * k.d);
      for (float& v : x) {
        const double t = k.relu ? std::max(0.0, z(gen)) : std::tanh(2 * z(gen));
        v = static_cast<float>(k.scale * t);
      }
      return x;
    };
    const std::vector<float> c = draw(k.n);
    std::vector<float> q = draw(k.m);
    for (std::size_t i = 0; i < k.m; ++i) {  // queries near centres, so that terms matter
      for (std::size_t t = 0; t < k.d; ++t) q[i * k.d + t] = c[i * 7 * k.d + t] + static_cast<float>(z(gen));
    }
    std::vector<float> lw(k.n, static_cast<float>(-std::log(double(k.n))));
    for (std::size_t j = 0; j < k.n; j += 11) lw[j] = -INFINITY;
    const double alpha = 0.5, alpha2 = alpha * detail::kLog2e;
    std::vector<double> cn(k.n);
    for (std::size_t j = 0; j < k.n; ++j) {
      for (std::size_t t = 0; t < k.d; ++t) cn[j] = std::fma(double(c[j * k.d + t]), double(c[j * k.d + t]), cn[j]);
    }
    double worst = 0;
    for (std::size_t i = 0; i < k.m; ++i) {
      const float* qi = q.data() + i * k.d;
      double qn = 0;
      for (std::size_t t = 0; t < k.d; ++t) qn = std::fma(double(qi[t]), double(qi[t]), qn);
      std::vector<double> d2(k.n);
      for (std::size_t j = 0; j < k.n; ++j) {
        for (std::size_t t = 0; t < k.d; ++t) {
          const double diff = double(qi[t]) - double(c[j * k.d + t]);
          d2[j] += diff * diff;
        }
      }
      // The float64 direct sum with log-weights lw (natural units), zero weights skipped.
      auto direct_lse = [&](auto log_weight) {
        double mx = -INFINITY, sum = 0;
        for (std::size_t j = 0; j < k.n; ++j) {
          if (lw[j] != -INFINITY) mx = std::max(mx, log_weight(j) - alpha * d2[j]);
        }
        for (std::size_t j = 0; j < k.n; ++j) {
          if (lw[j] != -INFINITY) sum += std::exp(log_weight(j) - alpha * d2[j] - mx);
        }
        return mx + std::log(sum);
      };
      const double ref = direct_lse([&](std::size_t j) { return double(lw[j]); });
      // The kernel's log-weights are float32 in log2 units: the same ones, for the 1e-9 check.
      const double ref2 = direct_lse([&](std::size_t j) {
        return double(static_cast<float>(double(lw[j]) * detail::kLog2e)) / detail::kLog2e;
      });
      detail::OnlineLse2 run;
      for (std::size_t c0 = 0; c0 < k.n; c0 += detail::kGemmCols) {
        const std::size_t nc = std::min<std::size_t>(detail::kGemmCols, k.n - c0);
        detail::OnlineLse2 lane[detail::kGemmLanes];
        for (std::size_t j = 0; j < nc; ++j) {
          double dot = 0;
          for (std::size_t t = 0; t < k.d; ++t) dot += double(qi[t]) * double(c[(c0 + j) * k.d + t]);
          const float lw2 = static_cast<float>(double(lw[c0 + j]) * detail::kLog2e);
          lane[j % detail::kGemmLanes].add(detail::gemm_exponent(lw2, alpha2, qn, cn[c0 + j], dot));
        }
        for (int off = detail::kGemmLanes / 2; off > 0; off /= 2) {
          for (int l = 0; l < off; ++l) lane[l].merge(lane[l + off].max, lane[l + off].sum);
        }
        run.merge(lane[0].max, lane[0].sum);
      }
      const double got = run.natural_log();
      ASSERT_TRUE(std::isfinite(got)) << "d = " << k.d << " query " << i;
      EXPECT_NEAR(got, ref2, 1e-9 * (1 + std::abs(ref2))) << "d = " << k.d << " query " << i;
      EXPECT_NEAR(got, ref, 1e-6 * (1 + std::abs(ref))) << "d = " << k.d << " query " << i;
      worst = std::max(worst, std::abs(got - ref2) / (1 + std::abs(ref2)));
    }
    std::printf("[ d = %zu ] worst relative gap to the direct float64 sum: %.1e\n", k.d, worst);
  }
  detail::OnlineLse2 none;
  none.add(-INFINITY);
  none.merge(-INFINITY, 0);
  EXPECT_EQ(none.natural_log(), -INFINITY);
}

// The GEMM path itself on a device (ComputeOptions::cuda_distances = Gemm: Auto keeps the
// direct kernel until the crossover is measured): against the exact cpu backend, with two
// query chunks and two centre blocks, zero weights, d from 1 to 300. Skips without a device.
TEST(CudaGemm, ChosenGemmPathMatchesCpuBackend) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  for (std::size_t d : {1, 64, 300}) {
    const std::size_t m = detail::kGemmRows + 104, n = detail::kGemmCols + 404;
    const auto q = testing::random_matrix(m, d, 70 + d), c = testing::random_matrix(n, d, 80 + d);
    std::vector<double> w(n, 1.0);
    for (std::size_t j = 0; j < n; j += 13) w[j] = 0;
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    for (double& v : w) v /= total;
    std::vector<double> cpu(m), gpu(m);
    ComputeOptions o;
    o.tolerance = 0;
    o.backend = Backend::Cpu;
    log_sum_exp_gaussian({q.data(), m, d}, {c.data(), n, d}, {w.data(), n}, 2.0 / d, {cpu.data(), m}, o);
    o.backend = Backend::Cuda;
    o.cuda_distances = CudaDistances::Gemm;
    log_sum_exp_gaussian({q.data(), m, d}, {c.data(), n, d}, {w.data(), n}, 2.0 / d, {gpu.data(), m}, o);
    for (std::size_t i = 0; i < m; ++i) {
      ASSERT_NEAR(gpu[i], cpu[i], 1e-5 * (1 + std::abs(cpu[i]))) << "d = " << d << " row " << i;
    }
  }
}

// The CUDA backend's one-launch layout for many mixtures (kernels/lse_segments.cu), run
// on the host exactly as the kernel addresses it (block b does tasks[b]; thread i < rows
// reads padded query row query_row + i, folds center_tiles tiles from center_row, writes
// out[out_row + i]), against the float64 reference segment by segment. Segments: empty
// of queries, empty of centres, more queries than a block, centres not filling a tile.
TEST(CudaSegments, OneLaunchLayoutMatchesReference) {
  const std::size_t d = 3, dp = 4;
  const std::size_t q_off[] = {0, 5, 5, 12, 13, 13 + 300};
  const std::size_t c_off[] = {0, 7, 70, 70, 71, 71 + 130};
  const std::size_t count = 5, m = q_off[count], n = c_off[count];
  const auto q = testing::random_matrix(m, d, 3), c = testing::random_matrix(n, d, 4);
  std::vector<float> qf(q.begin(), q.end()), cf(c.begin(), c.end()), lw(n);
  for (std::size_t s = 0; s < count; ++s) {
    for (std::size_t j = c_off[s]; j < c_off[s + 1]; ++j) lw[j] = static_cast<float>(-std::log(double(c_off[s + 1] - c_off[s])) + 0.01 * j);
  }
  const double alpha = 0.7;
  // Blocks of 128 and tiles of 64 (the kernel's), 4 and 3 (every segment spans several),
  // and the kernel's with small segments packed (<= 64 centres, < 64 queries: segments 0
  // to 3 here, one without queries, one without centres).
  for (const int config : {0, 1, 2}) {
    const std::size_t block = config == 1 ? 4 : 128, tile = config == 1 ? 3 : 64;
    const std::size_t small_centres = config == 2 ? 64 : 0, small_rows = config == 2 ? 64 : 0;
    const detail::SegmentLayout l = detail::segment_layout({q_off, c_off, count}, block, tile, small_centres, small_rows);
    if (config == 2) {
      EXPECT_EQ(l.small.size(), std::size_t{5 + 0 + 7 + 1});
    } else {
      EXPECT_TRUE(l.small.empty());
    }
    const auto hq = detail::pad_segment_rows(qf.data(), d, dp, q_off, count, l.query_row, l.query_rows);
    const auto hc = detail::pad_segment_rows(cf.data(), d, dp, c_off, count, l.center_row, l.center_rows);
    const auto hw = detail::pad_segment_log2_weights(lw.data(), c_off, count, l.center_row, l.center_rows);
    std::vector<double> out(m, std::nan(""));
    std::vector<int> writes(m, 0);
    for (const detail::SegmentTask& t : l.tasks) {
      ASSERT_LE(t.rows, block);
      for (std::size_t i = 0; i < t.rows; ++i) {
        double top = -HUGE_VAL, sum = 0;
        std::vector<double> e;
        for (std::size_t j = t.center_row; j < t.center_row + std::size_t{t.center_tiles} * tile; ++j) {
          double d2 = 0;
          for (std::size_t k = 0; k < dp; ++k) {
            const double diff = double(hq[(t.query_row + i) * dp + k]) - hc[j * dp + k];
            d2 += diff * diff;
          }
          e.push_back(hw[j] - alpha / std::log(2.0) * d2);  // log2 units, as the kernel
          top = std::max(top, e.back());
        }
        for (double v : e) sum += std::exp2(v - top);
        out[t.out_row + i] = e.empty() || top == -HUGE_VAL ? -HUGE_VAL : (top + std::log2(sum)) * std::log(2.0);
        ++writes[t.out_row + i];
      }
    }
    for (const detail::SmallQuery& sq : l.small) {  // as lse_small_segments_kernel addresses them
      double top = -HUGE_VAL, sum = 0;
      std::vector<double> e;
      for (std::size_t j = sq.center_row; j < sq.center_row + sq.centers; ++j) {
        double d2 = 0;
        for (std::size_t k = 0; k < dp; ++k) {
          const double diff = double(hq[sq.query_row * dp + k]) - hc[j * dp + k];
          d2 += diff * diff;
        }
        e.push_back(hw[j] - alpha / std::log(2.0) * d2);
        top = std::max(top, e.back());
      }
      for (double v : e) sum += std::exp2(v - top);
      out[sq.out_row] = top == -HUGE_VAL ? -HUGE_VAL : (top + std::log2(sum)) * std::log(2.0);
      ++writes[sq.out_row];
    }
    for (std::size_t s = 0; s < count; ++s) {
      const std::size_t ms = q_off[s + 1] - q_off[s], ns = c_off[s + 1] - c_off[s];
      std::vector<double> ref(ms), lw_s(lw.begin() + c_off[s], lw.begin() + c_off[s + 1]);
      if (ns > 0) detail::lse_reference(q.data() + q_off[s] * d, ms, c.data() + c_off[s] * d, ns, lw_s.data(), d, alpha, ref.data());
      for (std::size_t i = 0; i < ms; ++i) {
        EXPECT_EQ(writes[q_off[s] + i], 1) << "block " << block << " segment " << s << " query " << i;
        if (ns == 0) {
          EXPECT_EQ(out[q_off[s] + i], -HUGE_VAL);
        } else {
          EXPECT_NEAR(out[q_off[s] + i], ref[i], 1e-5 * (1 + std::abs(ref[i]))) << "block " << block << " segment " << s;
        }
      }
    }
  }
}

// A single segment is a mixture of its own centres only: entropy_mc_segmented passes one
// whenever a chunk of queries falls inside one mixture (h(T|X) with many draws per centre,
// a rank's share under MPI), with centre offsets into the whole array. The cuda backend
// once scored such a segment's queries against every centre.
TEST(CudaSegments, OneSegmentUsesOnlyItsCenters) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  const std::size_t d = 3, n = 300, m = 200;
  const auto q = testing::random_matrix(m, d, 5), c = testing::random_matrix(n, d, 6);
  std::vector<float> qf(q.begin(), q.end()), cf(c.begin(), c.end()), lw(n);
  for (std::size_t j = 0; j < n; ++j) lw[j] = static_cast<float>(-std::log(100.0) + 0.001 * j);
  std::vector<double> lw64(lw.begin(), lw.end());
  const double alpha = 0.5;
  detail::LseProblemF32 p;
  p.queries = qf.data(), p.m = m, p.centers = cf.data(), p.n = n, p.log_weights = lw.data(), p.d = d;
  p.alpha = static_cast<float>(alpha);
  // Queries [50, 170) against centres [120, 220); the other outputs are not touched.
  const std::size_t q_off[] = {50, 170}, c_off[] = {120, 220};
  for (const double tol : {0.0, 1e-3}) {  // the exact and the pruned single-mixture paths
    p.tolerance = tol;
    std::vector<double> out(m, 7.0), ref(q_off[1] - q_off[0]);
    detail::lse_cuda(p, {q_off, c_off, 1}, out.data(), {});
    std::vector<double> qs(q.begin() + q_off[0] * d, q.begin() + q_off[1] * d);
    std::vector<double> cs(c.begin() + c_off[0] * d, c.begin() + c_off[1] * d);
    std::vector<double> ls(lw64.begin() + c_off[0], lw64.begin() + c_off[1]);
    detail::lse_reference(qs.data(), ref.size(), cs.data(), cs.size() / d, ls.data(), d, alpha, ref.data());
    for (std::size_t i = 0; i < m; ++i) {
      if (i < q_off[0] || i >= q_off[1]) {
        EXPECT_EQ(out[i], 7.0) << "query " << i << " is outside the segment";
      } else {
        EXPECT_NEAR(out[i], ref[i - q_off[0]], 1e-5 * (1 + std::abs(ref[i - q_off[0]])) + tol) << "query " << i;
      }
    }
  }
}

TEST(InputChecks, RejectBadArguments) {
  const double c[] = {0.0, 1.0, std::nan("")};
  EntropyOptions o;
  o.sigma = 1;
  EXPECT_THROW(mixture_entropy({c, 3, 1}, o), InvalidArgument);  // NaN centre
  EXPECT_THROW(mixture_entropy({c, 0, 1}, o), InvalidArgument);  // empty
  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    o.sigma = bad;
    EXPECT_THROW(mixture_entropy({c, 2, 1}, o), InvalidArgument) << bad;
  }
  o.sigma = 1;
  o.samples_per_center = 0;
  EXPECT_THROW(mixture_entropy({c, 2, 1}, o), InvalidArgument);
  o.samples_per_center = 1;
  const double w_bad_sum[] = {0.5, 0.6};
  EXPECT_THROW(mixture_entropy({c, 2, 1}, {w_bad_sum, 2}, o), InvalidArgument);
  const double w_negative[] = {1.5, -0.5};
  EXPECT_THROW(mixture_entropy({c, 2, 1}, {w_negative, 2}, o), InvalidArgument);
  EXPECT_THROW(mixture_entropy({c, 2, 1}, {w_bad_sum, 1}, o), InvalidArgument);
  for (int bad : {-1, kMaxThreads + 1, 100000}) {
    o.compute.threads = bad;
    EXPECT_THROW(mixture_entropy({c, 2, 1}, o), InvalidArgument) << bad;
    double out[2];
    EXPECT_THROW(log_density({c, 2, 1}, {c, 2, 1}, {}, 1.0, {out, 2}, o.compute), InvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace infoflow
