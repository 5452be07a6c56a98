// Prints this machine's roofline for the Gaussian log-sum-exp: the pairs/s an ideal
// direct-difference kernel could reach (bench/ROOFLINE.md). An ideal pair costs d
// subtractions + d FMAs for the distance, one FMA for the scale and log-weight, one max,
// a degree-5 exp2 and one add. The exp2 is round, subtract, 5 FMAs and the scale by 2^n:
// one VSCALEFPS on AVX-512, else convert, shift and integer add, as the cpu backend does.
// Those ops do not all issue on the same pipes: the tool measures, on all cores, the
// sustained rate of FMAs alone, of subtractions alone and of the two interleaved, and for
// each of max, round and scale whether it issues beside FMAs (another pipe) or takes an
// FMA's slot. A pair's time is then the busiest of: the FMA-class ops at the FMA rate, the
// other ops at the subtraction rate, all ops at the interleaved rate.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/roofline.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef ROOFLINE_OPS  // this file is compiled once per SIMD target
#define ROOFLINE_OPS
namespace roofline {
enum Op { kNone, kFma, kSub, kMax, kRound, kScale };
}
#endif

HWY_BEFORE_NAMESPACE();
namespace roofline::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

#undef ROOFLINE_AVX512
#define ROOFLINE_AVX512 (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3)

template <int kOp>
HWY_INLINE VF Apply(DF df, VF x) {
  if constexpr (kOp == kFma) return hn::MulAdd(x, hn::Set(df, 0.999999f), hn::Set(df, 1e-7f));
  else if constexpr (kOp == kSub) return hn::Sub(x, hn::Set(df, 1e-7f));
  else if constexpr (kOp == kMax) return hn::Max(x, hn::Set(df, 0.5f));
  else if constexpr (kOp == kRound) return hn::Round(x);
#if ROOFLINE_AVX512
  else if constexpr (kOp == kScale) return VF{_mm512_scalef_ps(x.raw, _mm512_setzero_ps())};
#endif
  else return x;
}

// Keeps a chain in a register and opaque to the compiler, so that it can neither merge
// chains nor fold an op into its repeat (round of a round). Until 2026-12-02 this tool
// started 8 FMA chains from the same value and GCC merged them into one: it timed the
// FMA latency, times 8, and read twice the FMA throughput on this machine's cores.
HWY_INLINE void Opaque(VF& v) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  asm volatile("" : "+v"(v.raw));
#else
  (void)v;
#endif
}

// Lane-ops per second of one thread: 8 independent chains of op A, and 8 of op B
// interleaved with them unless B is kNone.
template <int A, int B>
double Rate(long iters) {
  const DF df;
  VF a0 = hn::Set(df, 1.00f), a1 = hn::Set(df, 1.01f), a2 = hn::Set(df, 1.02f), a3 = hn::Set(df, 1.03f);
  VF a4 = hn::Set(df, 1.04f), a5 = hn::Set(df, 1.05f), a6 = hn::Set(df, 1.06f), a7 = hn::Set(df, 1.07f);
  VF b0 = hn::Set(df, 2.00f), b1 = hn::Set(df, 2.01f), b2 = hn::Set(df, 2.02f), b3 = hn::Set(df, 2.03f);
  VF b4 = hn::Set(df, 2.04f), b5 = hn::Set(df, 2.05f), b6 = hn::Set(df, 2.06f), b7 = hn::Set(df, 2.07f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iters; ++i) {
    a0 = Apply<A>(df, a0), a1 = Apply<A>(df, a1), a2 = Apply<A>(df, a2), a3 = Apply<A>(df, a3);
    a4 = Apply<A>(df, a4), a5 = Apply<A>(df, a5), a6 = Apply<A>(df, a6), a7 = Apply<A>(df, a7);
    if constexpr (B != kNone) {
      b0 = Apply<B>(df, b0), b1 = Apply<B>(df, b1), b2 = Apply<B>(df, b2), b3 = Apply<B>(df, b3);
      b4 = Apply<B>(df, b4), b5 = Apply<B>(df, b5), b6 = Apply<B>(df, b6), b7 = Apply<B>(df, b7);
      Opaque(b0), Opaque(b1), Opaque(b2), Opaque(b3), Opaque(b4), Opaque(b5), Opaque(b6), Opaque(b7);
    }
    Opaque(a0), Opaque(a1), Opaque(a2), Opaque(a3), Opaque(a4), Opaque(a5), Opaque(a6), Opaque(a7);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const VF sum = hn::Add(hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7))),
                         hn::Add(hn::Add(hn::Add(b0, b1), hn::Add(b2, b3)), hn::Add(hn::Add(b4, b5), hn::Add(b6, b7))));
  if (hn::GetLane(sum) == 12345.f) std::puts("");  // keeps the chains alive
  return (B == kNone ? 8.0 : 16.0) * iters * hn::Lanes(df) / s;
}

double RateOf(int a, int b, long iters) {
  if (a == kFma && b == kNone) return Rate<kFma, kNone>(iters);
  if (a == kSub && b == kNone) return Rate<kSub, kNone>(iters);
  if (a == kFma && b == kSub) return Rate<kFma, kSub>(iters);
  if (a == kFma && b == kMax) return Rate<kFma, kMax>(iters);
  if (a == kFma && b == kRound) return Rate<kFma, kRound>(iters);
  if (a == kFma && b == kScale) return Rate<kFma, kScale>(iters);
  std::abort();
}
const char* Target() { return hwy::TargetName(HWY_TARGET); }
// The 2^n of the exp2: VSCALEFPS where the target has it, else convert, shift, add.
bool HasScale() { return ROOFLINE_AVX512; }

}  // namespace roofline::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>
namespace roofline {
HWY_EXPORT(RateOf);
HWY_EXPORT(Target);
HWY_EXPORT(HasScale);

// The sum over all threads of one rate; a peak, so the best of several trials: on a
// shared machine a single trial read 5-10% low at times, and a low peak inflates every
// "% of roofline" computed from it.
double PeakRate(int a, int b, int* threads) {
  constexpr int kTrials = 5;
  double best = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    double sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      sum += HWY_DYNAMIC_DISPATCH(RateOf)(a, b, 20000000);
#pragma omp single
      *threads = omp_get_num_threads();
    }
    best = std::max(best, sum);
  }
  return best;
}
}  // namespace roofline

int main(int argc, char** argv) {
  using namespace roofline;
  const bool json = argc > 1 && std::string(argv[1]) == "--json";
  int threads = 0;
  const double fma = PeakRate(kFma, kNone, &threads);
  const double sub = PeakRate(kSub, kNone, &threads);
  const double mixed = PeakRate(kFma, kSub, &threads);
  // Per pair, besides the distance's d FMAs and d subtractions: FMA class the exponent's
  // FMA and the 5 polynomial FMAs; other: the subtraction in the exp2 and the running sum's
  // add (and, without VSCALEFPS, the convert, shift and integer add of the 2^n, assumed
  // off the FMA pipes). Max, round and scale go where the measurement puts them: an op
  // that runs beside FMAs at near the interleaved rate has its own pipe.
  int fma_class = 6, other = 2 + (HWY_DYNAMIC_DISPATCH(HasScale)() ? 0 : 3);
  struct Part {
    const char* name;
    Op op;
    double rate = 0;
    bool beside_fma = false;
  } parts[] = {{"max", kMax}, {"round", kRound}, {"scale", kScale}};
  for (Part& p : parts) {
    if (p.op == kScale && !HWY_DYNAMIC_DISPATCH(HasScale)()) continue;
    p.rate = PeakRate(kFma, p.op, &threads);
    p.beside_fma = p.rate > 0.75 * mixed;
    (p.beside_fma ? other : fma_class) += 1;
  }
  // Seconds per pair of each bound; the largest is the limit.
  const auto limit = [&](int d) {
    const double f = d + fma_class, o = d + other;
    return 1 / std::max({f / fma, o / sub, (f + o) / mixed});
  };
  const int dims[] = {1, 2, 4, 8, 10, 12, 16, 32, 64, 256, 1024};
  const char* target = HWY_DYNAMIC_DISPATCH(Target)();
  if (json) {
    std::printf("{\"target\":\"%s\",\"threads\":%d,\"fma_lane_ops_per_s\":%.4g,\"sub_lane_ops_per_s\":%.4g,"
                "\"interleaved_lane_ops_per_s\":%.4g,\"lane_ops_per_pair\":\"2d+%d\","
                "\"fma_class_ops_per_pair\":\"d+%d\",\"other_ops_per_pair\":\"d+%d\",\"beside_fma\":{",
                target, threads, fma, sub, mixed, fma_class + other, fma_class, other);
    bool first = true;
    for (const Part& p : parts) {
      if (p.rate == 0) continue;
      std::printf("%s\"%s\":{\"with_fma_lane_ops_per_s\":%.4g,\"own_pipe\":%s}", first ? "" : ",", p.name,
                  p.rate, p.beside_fma ? "true" : "false");
      first = false;
    }
    std::printf("},\"pairs_per_s_limit\":{");
    for (std::size_t i = 0; i < std::size(dims); ++i) {
      std::printf("%s\"%d\":%.4g", i ? "," : "", dims[i], limit(dims[i]));
    }
    std::printf("}}\n");
    return 0;
  }
  std::printf("SIMD target %s, %d threads, G lane-ops/s (best of 5): FMA %.1f, subtract %.1f, "
              "both interleaved %.1f\n", target, threads, fma / 1e9, sub / 1e9, mixed / 1e9);
  for (const Part& p : parts) {
    if (p.rate == 0) continue;
    std::printf("  %s interleaved with FMAs: %.1f G lane-ops/s: %s\n", p.name, p.rate / 1e9,
                p.beside_fma ? "its own pipe" : "takes FMA slots");
  }
  std::printf("per pair: d + %d lane-ops of the FMA class, d + %d others (2d + %d in all)\n"
              "  d   limit (Gpairs/s)\n", fma_class, other, fma_class + other);
  for (int d : dims) std::printf("%4d   %.3f\n", d, limit(d) / 1e9);
}
#endif
