// Prints this machine's roofline for the Gaussian log-sum-exp: the pairs/s an ideal
// direct-difference kernel could reach (bench/ROOFLINE.md). It measures the sustained
// vector floating-point issue rate on all cores with independent FMA chains, then divides
// by the lane-ops one pair needs: d subtractions + d FMAs for the distance, one FMA for
// the scale and log-weight, one max, a degree-5 exp2 and one add: 2d + 3 + the exp2's
// lane-ops. The exp2 is round, subtract, 5 FMAs and the scale by 2^n: one VSCALEFPS on
// AVX-512 (8 in all), else convert, shift and integer add (10), as the cpu backend does.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/roofline.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

HWY_BEFORE_NAMESPACE();
namespace roofline::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lane-ops per second of one thread: 8 independent FMA chains (enough to cover the FMA
// latency on current cores), `iters` rounds each.
double LaneOpsPerSecond(long iters) {
  const hn::ScalableTag<float> df;
  auto a0 = hn::Set(df, 1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const auto m = hn::Set(df, 0.999999f), c = hn::Set(df, 1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c), a1 = hn::MulAdd(a1, m, c), a2 = hn::MulAdd(a2, m, c), a3 = hn::MulAdd(a3, m, c);
    a4 = hn::MulAdd(a4, m, c), a5 = hn::MulAdd(a5, m, c), a6 = hn::MulAdd(a6, m, c), a7 = hn::MulAdd(a7, m, c);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const float sink = hn::GetLane(hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7))));
  if (sink == 12345.f) std::puts("");  // keeps the chains alive
  return 8.0 * iters * hn::Lanes(df) / s;
}
const char* Target() { return hwy::TargetName(HWY_TARGET); }
int Exp2LaneOps() { return HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3 ? 8 : 10; }

}  // namespace roofline::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>
namespace roofline {
HWY_EXPORT(LaneOpsPerSecond);
HWY_EXPORT(Target);
HWY_EXPORT(Exp2LaneOps);
}  // namespace roofline

int main(int argc, char** argv) {
  const bool json = argc > 1 && std::string(argv[1]) == "--json";
  // A peak, so the best of several trials: on a shared machine a single trial read 5-10%
  // low at times (211 to 232 G lane-ops/s here), and a low peak inflates every "% of
  // roofline" computed from it.
  constexpr int kTrials = 7;
  double total = 0;
  int threads = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    double sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      sum += HWY_DYNAMIC_DISPATCH(roofline::LaneOpsPerSecond)(50000000);
#pragma omp single
      threads = omp_get_num_threads();
    }
    total = std::max(total, sum);
  }
  // Only FMAs were timed: on cores whose FP add pipes are separate from the FMA pipes the
  // kernel's subtractions could issue alongside, so this is a conservative (lower) peak
  // for mixed code; see ROOFLINE.md.
  const int dims[] = {1, 2, 4, 8, 10, 12, 16, 32, 64, 256, 1024};
  const int fixed = 3 + HWY_DYNAMIC_DISPATCH(roofline::Exp2LaneOps)();  // lane-ops per pair besides 2d
  if (json) std::printf("{\"target\":\"%s\",\"threads\":%d,\"fma_lane_ops_per_s\":%.4g,"
                        "\"lane_ops_per_pair\":\"2d+%d\",\"pairs_per_s_limit\":{",
                        HWY_DYNAMIC_DISPATCH(roofline::Target)(), threads, total, fixed);
  else std::printf("SIMD target %s, %d threads: %.1f G FMA lane-ops/s, 2d + %d lane-ops per pair\n"
                   "  d   limit (Gpairs/s)\n",
                   HWY_DYNAMIC_DISPATCH(roofline::Target)(), threads, total / 1e9, fixed);
  for (std::size_t i = 0; i < std::size(dims); ++i) {
    const double limit = total / (2.0 * dims[i] + fixed);
    if (json) std::printf("%s\"%d\":%.4g", i ? "," : "", dims[i], limit);
    else std::printf("%4d   %.3f\n", dims[i], limit / 1e9);
  }
  if (json) std::printf("}}\n");
}
#endif
