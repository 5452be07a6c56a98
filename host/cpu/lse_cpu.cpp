// Fast CPU backend of the Gaussian log-sum-exp: Highway SIMD with runtime dispatch to
// the widest instruction set of the running CPU, OpenMP threads over query blocks.
//
// Numerics (see host/lse_implementations.hpp): float32 direct differences q - c (never the
// ||q||^2 - 2 q.c + ||c||^2 expansion, which cancels at small sigma), an online
// log-sum-exp with one rescale per centre tile (one exp per pair, not two), float64
// running sums across tiles.
//
// Centers are packed once into tiles of kTile(d) centres, transposed to d x T so that
// one vector load reads the same coordinate of N centres. Padding centres carry log
// weight -inf and so contribute exp(-inf) = 0.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/lse_cpu.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/aligned_allocator.h>
#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/lse_cpu_tiling.hpp"
#include "lse_implementations.hpp"
#include "online_lse.hpp"

HWY_BEFORE_NAMESPACE();
namespace infoflow::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// AVX-512 targets (32 vector registers, VSCALEFPS) take a wider register block and a
// cheaper exp2 below; the macro is read anew for each target foreach_target compiles.
#ifndef INFOFLOW_AVX512_TARGET
#define INFOFLOW_AVX512_TARGET (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3)
#endif

// 2^x for exponents minus a query's running max, in log2 units: x <= 0 in FoldTile, x <=
// kOnePassHeadroom in TileSumsOnePass. n = round(x), 2^(x - n) by a degree-5 polynomial on
// [-1/2, 1/2] (least squares on Chebyshev nodes for relative error: 7.7e-8 in exact
// arithmetic, 2.2e-7 evaluated in float32, against 1e-5 allowed), times 2^n. Cheaper than
// a general exp (no ln 2 range reduction, no overflow side: callers keep x below 127). x
// below -126 (zero weights, padding: -inf) is clamped there and contributes 2^-126 of the
// running max's term instead of 0: at most n * 1.2e-38 relative, so no compare-and-blend
// is spent on it.
// The 2^n: AVX-512's VSCALEFPS does it in one instruction; elsewhere n is converted to
// an integer and added to the exponent bits (three). Measured on Zen 4 (n = m = 20000,
// exact path, with the wider block below): d = 1 8.0 -> 10.6 Gpairs/s, d = 10 4.2 -> 4.85.
HWY_INLINE VF Exp2Clamped(DF df, VF x) {
  const VF xc = hn::Max(x, hn::Set(df, -126.0f));
  const VF n = hn::Round(xc);
  const VF f = hn::Sub(xc, n);
  VF p = hn::Set(df, 1.32669704e-3f);
  p = hn::MulAdd(p, f, hn::Set(df, 9.67545975e-3f));
  p = hn::MulAdd(p, f, hn::Set(df, 5.55074262e-2f));
  p = hn::MulAdd(p, f, hn::Set(df, 2.40221218e-1f));
  p = hn::MulAdd(p, f, hn::Set(df, 6.93146949e-1f));
  p = hn::MulAdd(p, f, hn::Set(df, 1.00000007f));
#if INFOFLOW_AVX512_TARGET
  return VF{_mm512_scalef_ps(p.raw, n.raw)};
#else
  const hn::RebindToSigned<DF> di;
  return hn::BitCast(df, hn::Add(hn::BitCast(di, p), hn::ShiftLeft<23>(hn::ConvertTo(di, n))));
#endif
}

#if INFOFLOW_AVX512_TARGET
// Pre-broadcast queries (ForEachExponentBlock) up to this dimension (qb: 8 KiB of stack)
// and where a tile holds at least this many blocks of 4N centres to reuse them over.
constexpr std::size_t kBroadcastOnceMaxDim = 32;
constexpr std::size_t kBroadcastOnceMinBlocks = 2;

// Query r's coordinate k in every lane, for Blocks4x4: broadcast from the query rows, or
// loaded from vectors broadcast beforehand (kMicroQueries per dimension).
struct QueryScalars {
  const float* const* q;
  HWY_INLINE VF operator()(std::size_t r, std::size_t k) const { return hn::Set(DF(), q[r][k]); }
};
struct QueryVectors {
  const float* qb;
  HWY_INLINE VF operator()(std::size_t r, std::size_t k) const {
    return hn::Load(DF(), qb + (k * kMicroQueries + r) * hn::Lanes(DF()));
  }
};

// The AVX-512 register block of ForEachExponentBlock (below): 4 queries x 4 vectors of
// centres, over the tile's whole blocks of 4N centres; returns where it stopped.
template <class QueryVec, class Emit>
HWY_INLINE std::size_t Blocks4x4(const float* HWY_RESTRICT tile, const float* HWY_RESTRICT lw,
                                 std::size_t T, std::size_t d, const QueryVec& qv, float alpha,
                                 const Emit& emit) {
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const VF neg_alpha = hn::Set(df, -alpha);
  std::size_t j = 0;
  for (; j + 4 * N <= T; j += 4 * N) {
    VF a00 = hn::Zero(df), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    VF a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (std::size_t k = 0; k < d; ++k) {
      const float* c = tile + k * T + j;
      const VF c0 = hn::Load(df, c), c1 = hn::Load(df, c + N), c2 = hn::Load(df, c + 2 * N), c3 = hn::Load(df, c + 3 * N);
      VF b = qv(0, k);
      VF t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b), t2 = hn::Sub(c2, b), t3 = hn::Sub(c3, b);
      a00 = hn::MulAdd(t0, t0, a00), a01 = hn::MulAdd(t1, t1, a01), a02 = hn::MulAdd(t2, t2, a02), a03 = hn::MulAdd(t3, t3, a03);
      b = qv(1, k), t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b), t2 = hn::Sub(c2, b), t3 = hn::Sub(c3, b);
      a10 = hn::MulAdd(t0, t0, a10), a11 = hn::MulAdd(t1, t1, a11), a12 = hn::MulAdd(t2, t2, a12), a13 = hn::MulAdd(t3, t3, a13);
      b = qv(2, k), t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b), t2 = hn::Sub(c2, b), t3 = hn::Sub(c3, b);
      a20 = hn::MulAdd(t0, t0, a20), a21 = hn::MulAdd(t1, t1, a21), a22 = hn::MulAdd(t2, t2, a22), a23 = hn::MulAdd(t3, t3, a23);
      b = qv(3, k), t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b), t2 = hn::Sub(c2, b), t3 = hn::Sub(c3, b);
      a30 = hn::MulAdd(t0, t0, a30), a31 = hn::MulAdd(t1, t1, a31), a32 = hn::MulAdd(t2, t2, a32), a33 = hn::MulAdd(t3, t3, a33);
    }
    const VF w0 = hn::Load(df, lw + j), w1 = hn::Load(df, lw + j + N);
    const VF w2 = hn::Load(df, lw + j + 2 * N), w3 = hn::Load(df, lw + j + 3 * N);
    emit(std::integral_constant<int, 0>(), j, hn::MulAdd(a00, neg_alpha, w0), hn::MulAdd(a01, neg_alpha, w1));
    emit(std::integral_constant<int, 0>(), j + 2 * N, hn::MulAdd(a02, neg_alpha, w2), hn::MulAdd(a03, neg_alpha, w3));
    emit(std::integral_constant<int, 1>(), j, hn::MulAdd(a10, neg_alpha, w0), hn::MulAdd(a11, neg_alpha, w1));
    emit(std::integral_constant<int, 1>(), j + 2 * N, hn::MulAdd(a12, neg_alpha, w2), hn::MulAdd(a13, neg_alpha, w3));
    emit(std::integral_constant<int, 2>(), j, hn::MulAdd(a20, neg_alpha, w0), hn::MulAdd(a21, neg_alpha, w1));
    emit(std::integral_constant<int, 2>(), j + 2 * N, hn::MulAdd(a22, neg_alpha, w2), hn::MulAdd(a23, neg_alpha, w3));
    emit(std::integral_constant<int, 3>(), j, hn::MulAdd(a30, neg_alpha, w0), hn::MulAdd(a31, neg_alpha, w1));
    emit(std::integral_constant<int, 3>(), j + 2 * N, hn::MulAdd(a32, neg_alpha, w2), hn::MulAdd(a33, neg_alpha, w3));
  }
  return j;
}
#endif

// The register block both folds share: kMicroQueries queries x 2 vectors of centres = 8
// accumulators (leaving registers for the centre loads and broadcasts even on 16-register
// AVX2); on AVX-512, with 32 registers, 4 vectors of centres = 16 accumulators first, which
// halves the query broadcasts per pair (measured on Zen 4, exact path: d = 10 4.0 -> 4.2
// Gpairs/s, d = 16 2.9 -> 3.2). For each column block j (2N centres) of the tile, each
// query r's exponents e = log_w - alpha ||q_r - c||^2 go to emit(r, j, e0, e1), r a
// compile-time constant.
template <class Emit>
HWY_INLINE void ForEachExponentBlock(const float* HWY_RESTRICT tile, const float* HWY_RESTRICT lw,
                                     std::size_t T, std::size_t d, const float* const* HWY_RESTRICT q,
                                     float alpha, const Emit& emit) {
  static_assert(kMicroQueries == 4, "the register block below is written for 4 queries");
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const VF neg_alpha = hn::Set(df, -alpha);
  std::size_t j = 0;
#if INFOFLOW_AVX512_TARGET
  // Tiles are multiples of 4N wide (tile_width) except in small segments, where a 2N
  // remainder may follow (the loop below).
  if (d <= kBroadcastOnceMaxDim && T >= kBroadcastOnceMinBlocks * 4 * N) {
    // A broadcast from memory takes an FP pipe slot on Zen 4, a plain load does not: the
    // block's step over one dimension (16 subtractions, 16 FMAs), timed alone, took 20.4
    // cycles with 4 broadcasts and 16.8 with 4 loads of pre-broadcast vectors. So the
    // queries are broadcast once per tile, into qb, and loaded for each block of 4N
    // centres. In the whole kernel that is 2-4% (exact path, n = m = 20000, paired A/B
    // runs: d = 4, 10, 16 -2 to -4%, d = 32 -1.5%, d = 2 no change).
    HWY_ALIGN float qb[kBroadcastOnceMaxDim * kMicroQueries * hn::MaxLanes(df)];
    for (std::size_t k = 0; k < d; ++k) {
      for (std::size_t r = 0; r < kMicroQueries; ++r) hn::Store(hn::Set(df, q[r][k]), df, qb + (k * kMicroQueries + r) * N);
    }
    j = Blocks4x4(tile, lw, T, d, QueryVectors{qb}, alpha, emit);
  } else {
    j = Blocks4x4(tile, lw, T, d, QueryScalars{q}, alpha, emit);
  }
#endif
  for (; j < T; j += 2 * N) {
    VF a00 = hn::Zero(df), a01 = a00, a10 = a00, a11 = a00;
    VF a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (std::size_t k = 0; k < d; ++k) {
      const VF c0 = hn::Load(df, tile + k * T + j);
      const VF c1 = hn::Load(df, tile + k * T + j + N);
      VF b = hn::Set(df, q[0][k]);
      VF t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b);
      a00 = hn::MulAdd(t0, t0, a00), a01 = hn::MulAdd(t1, t1, a01);
      b = hn::Set(df, q[1][k]), t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b);
      a10 = hn::MulAdd(t0, t0, a10), a11 = hn::MulAdd(t1, t1, a11);
      b = hn::Set(df, q[2][k]), t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b);
      a20 = hn::MulAdd(t0, t0, a20), a21 = hn::MulAdd(t1, t1, a21);
      b = hn::Set(df, q[3][k]), t0 = hn::Sub(c0, b), t1 = hn::Sub(c1, b);
      a30 = hn::MulAdd(t0, t0, a30), a31 = hn::MulAdd(t1, t1, a31);
    }
    const VF w0 = hn::Load(df, lw + j), w1 = hn::Load(df, lw + j + N);
    emit(std::integral_constant<int, 0>(), j, hn::MulAdd(a00, neg_alpha, w0), hn::MulAdd(a01, neg_alpha, w1));
    emit(std::integral_constant<int, 1>(), j, hn::MulAdd(a10, neg_alpha, w0), hn::MulAdd(a11, neg_alpha, w1));
    emit(std::integral_constant<int, 2>(), j, hn::MulAdd(a20, neg_alpha, w0), hn::MulAdd(a21, neg_alpha, w1));
    emit(std::integral_constant<int, 3>(), j, hn::MulAdd(a30, neg_alpha, w0), hn::MulAdd(a31, neg_alpha, w1));
  }
}

// One of four vectors by a compile-time index (no arrays of vectors: Highway's scalable
// targets do not allow them).
template <int R>
HWY_INLINE VF& Pick(std::integral_constant<int, R>, VF& v0, VF& v1, VF& v2, VF& v3) {
  if constexpr (R == 0) return v0;
  else if constexpr (R == 1) return v1;
  else if constexpr (R == 2) return v2;
  else return v3;
}

// Exponents of kMicroQueries queries against one packed tile, written to buf
// (kMicroQueries x T), and each query's maximum over the tile.
HWY_INLINE void TileExponents(const float* HWY_RESTRICT tile, const float* HWY_RESTRICT lw,
                              std::size_t T, std::size_t d,
                              const float* const* HWY_RESTRICT q, float alpha,
                              float* HWY_RESTRICT buf, float* tile_max) {
  const DF df;
  const std::size_t N = hn::Lanes(df);
  VF m0 = hn::Set(df, -std::numeric_limits<float>::infinity()), m1 = m0, m2 = m0, m3 = m0;
  ForEachExponentBlock(tile, lw, T, d, q, alpha, [&](auto r, std::size_t j, VF e0, VF e1) {
    hn::Store(e0, df, buf + r * T + j);
    hn::Store(e1, df, buf + r * T + j + N);
    VF& mx = Pick(r, m0, m1, m2, m3);
    mx = hn::Max(mx, hn::Max(e0, e1));
  });
  tile_max[0] = hn::GetLane(hn::MaxOfLanes(df, m0));
  tile_max[1] = hn::GetLane(hn::MaxOfLanes(df, m1));
  tile_max[2] = hn::GetLane(hn::MaxOfLanes(df, m2));
  tile_max[3] = hn::GetLane(hn::MaxOfLanes(df, m3));
}

// How far above a query's running max a tile's exponents may rise in TileSumsOnePass. The
// float32 x = e - max carries an absolute error up to ulp(x) / 2, a relative error of
// about ulp(x) ln 2 in 2^x: 3e-6 at x = 64, 1.7e-7 at x <= 2, within the two-pass path's
// own (test CpuBackend.OnePassFoldKeepsTheTwoPassAccuracy: 1.4e-6 with a headroom of 64,
// 1.2e-7 with 2). A tile that rises further is refolded two-pass.
constexpr float kOnePassHeadroom = 2.0f;
// The one-pass fold pays where the exp, not the distance, is the work: measured A/B
// (n = m = 20000, sigma = 0.1, exact path, 2 cores AVX3), one-pass vs two-pass time:
// d = 1 -11%, d = 2 -8%, d = 4 0%, d = 8 +10%, d = 10 +11%, d = 16 +12% (there the
// running max rises by more than the headroom on many tiles, each refolded two-pass).
// Also tried and dropped: an integer reference entering 2^(e - ref) through the exponent
// bits (exact at any rise, so a headroom of 120 and almost no refolds): d = 4 and 8 only
// 2% faster, d = 16 5% slower, and the pruned walk then needs the true max kept apart.
constexpr std::size_t kOnePassMaxDim = 2;

// The same register block as TileExponents, folding as it goes: sums[r] = the tile's sum
// of 2^(e - ref[r]) and tile_max[r] its largest e, with no exponent buffer (no store and
// reload per pair) and no wait for the tile's max. The terms are relative to the query's
// running max rather than the tile's, which is exact as long as the tile's max is at most
// kOnePassHeadroom above it (FoldMicroBlock checks).
HWY_INLINE void TileSumsOnePass(const float* HWY_RESTRICT tile, const float* HWY_RESTRICT lw,
                                std::size_t T, std::size_t d, const float* const* HWY_RESTRICT q,
                                float alpha, const float* ref, float* sums, float* tile_max) {
  const DF df;
  VF m0 = hn::Set(df, -std::numeric_limits<float>::infinity()), m1 = m0, m2 = m0, m3 = m0;
  VF s0 = hn::Zero(df), s1 = s0, s2 = s0, s3 = s0;
  ForEachExponentBlock(tile, lw, T, d, q, alpha, [&](auto r, std::size_t, VF e0, VF e1) {
    VF& mx = Pick(r, m0, m1, m2, m3);
    VF& sum = Pick(r, s0, s1, s2, s3);
    mx = hn::Max(mx, hn::Max(e0, e1));
    const VF rv = hn::Set(df, ref[decltype(r)::value]);
    sum = hn::Add(sum, hn::Add(Exp2Clamped(df, hn::Sub(e0, rv)), Exp2Clamped(df, hn::Sub(e1, rv))));
  });
  tile_max[0] = hn::GetLane(hn::MaxOfLanes(df, m0)), sums[0] = hn::GetLane(hn::SumOfLanes(df, s0));
  tile_max[1] = hn::GetLane(hn::MaxOfLanes(df, m1)), sums[1] = hn::GetLane(hn::SumOfLanes(df, s1));
  tile_max[2] = hn::GetLane(hn::MaxOfLanes(df, m2)), sums[2] = hn::GetLane(hn::SumOfLanes(df, s2));
  tile_max[3] = hn::GetLane(hn::MaxOfLanes(df, m3)), sums[3] = hn::GetLane(hn::SumOfLanes(df, s3));
}

// Folds one tile's exponents into a query's running (max, sum): the online rescale. All
// exponents are in log2 units (log2(e) folded into alpha and the log-weights once, in
// lse_cpu), so each term costs one exp2.
HWY_INLINE void FoldTile(const float* HWY_RESTRICT e, std::size_t T, float tile_max,
                         float& run_max, double& run_sum) {
  const float new_max = std::max(run_max, tile_max);
  if (new_max == -std::numeric_limits<float>::infinity()) return;  // all weights zero so far
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const VF shift = hn::Set(df, new_max);
  VF acc = hn::Zero(df);
  for (std::size_t j = 0; j < T; j += N) {
    acc = hn::Add(acc, Exp2Clamped(df, hn::Sub(hn::Load(df, e + j), shift)));
  }
  const double tile_sum = hn::GetLane(hn::SumOfLanes(df, acc));
  lse2_fold(run_max, run_sum, new_max, tile_sum);
}

// Folds one tile into the running (max, sum) of `rows` <= kMicroQueries queries (q holds
// kMicroQueries pointers; the tail repeats the last). For d <= kOnePassMaxDim, once every
// query has a running max, in one pass (TileSumsOnePass); otherwise, and for the queries
// whose tile max rises more than kOnePassHeadroom above their running max, in two
// (TileExponents into buf, then FoldTile).
HWY_INLINE void FoldMicroBlock(const float* HWY_RESTRICT tile, const float* HWY_RESTRICT lw,
                               std::size_t T, std::size_t d, const float* const* q, float alpha,
                               float* buf, float* run_max, double* run_sum, std::size_t rows) {
  bool redo[kMicroQueries] = {true, true, true, true};
  bool all_started = d <= kOnePassMaxDim;
  for (std::size_t r = 0; r < rows; ++r) all_started &= run_max[r] != -std::numeric_limits<float>::infinity();
  if (all_started) {
    float ref[kMicroQueries], sums[kMicroQueries], tile_max[kMicroQueries];
    for (std::size_t r = 0; r < kMicroQueries; ++r) ref[r] = run_max[std::min(r, rows - 1)];
    TileSumsOnePass(tile, lw, T, d, q, alpha, ref, sums, tile_max);
    bool any_redo = false;
    for (std::size_t r = 0; r < rows; ++r) {
      redo[r] = !(tile_max[r] <= run_max[r] + kOnePassHeadroom);
      if (!redo[r]) run_sum[r] += sums[r];
      any_redo |= redo[r];
    }
    if (!any_redo) return;
  }
  float tile_max[kMicroQueries];
  TileExponents(tile, lw, T, d, q, alpha, buf, tile_max);
  for (std::size_t r = 0; r < rows; ++r) {
    if (redo[r]) FoldTile(buf + r * T, T, tile_max[r], run_max[r], run_sum[r]);
  }
}

// One thread's block of up to kBlockQueries queries against tiles [t0, t1).
void LseQueryBlock(const PackedCenters& pc, std::size_t t0, std::size_t t1,
                   const float* queries, std::size_t nq, float alpha, float* buf, double* out) {
  float run_max[kBlockQueries];
  double run_sum[kBlockQueries];
  std::fill(run_max, run_max + kBlockQueries, -std::numeric_limits<float>::infinity());
  std::fill(run_sum, run_sum + kBlockQueries, 0.0);
  const std::size_t d = pc.d;
  for (std::size_t t = t0; t < t1; ++t) {
    const float* tile = pc.tile_coords(t);
    const float* lw = pc.tile_log_weights(t);
    const std::size_t T = pc.tile_width[t];
    for (std::size_t r0 = 0; r0 < nq; r0 += kMicroQueries) {
      const float* q[kMicroQueries];
      for (std::size_t r = 0; r < kMicroQueries; ++r) {
        q[r] = queries + std::min(r0 + r, nq - 1) * d;  // tail rows repeat the last one
      }
      FoldMicroBlock(tile, lw, T, d, q, alpha, buf, run_max + r0, run_sum + r0,
                     std::min(kMicroQueries, nq - r0));
    }
  }
  for (std::size_t r = 0; r < nq; ++r) {
    out[r] = run_sum[r] > 0 ? (run_max[r] + std::log2(run_sum[r])) * kLn2
                            : -std::numeric_limits<double>::infinity();
  }
}

// Upper bound on the exponents of any query in the box [qlo, qhi] against node i of the
// tree: log_w_max - alpha * (smallest squared box-to-box distance), in float64 and shrunk
// by 1e-6 so float rounding can only make pruning more cautious. A query is a box with
// qlo = qhi.
double NodeBound(const TileTree& tree, std::uint32_t i, const float* qlo, const float* qhi,
                 float alpha) {
  double d2 = 0;
  const float* lo = tree.lo.data() + i * tree.d;
  const float* hi = tree.hi.data() + i * tree.d;
  for (std::size_t k = 0; k < tree.d; ++k) {
    const double gap = std::max({0.0, double(qlo[k]) - hi[k], double(lo[k]) - qhi[k]});
    d2 += gap * gap;
  }
  return tree.lw_max[i] - alpha * d2 * (1 - 1e-6);
}

// Best-first over the tile tree for up to kPruneQueries queries, in order of the bound
// for the block's box. The walk stops once the best remaining box bound is below every
// query's running max plus log2(tolerance / n); before that, a node is still skipped when
// each query's own bound is below its running max plus log2(tolerance / n). Either way a
// query's skipped terms add at most tolerance * (their count / n) * exp(its max), a
// fraction `tolerance` of its sum. The per-query test matters from d ~ 8 up: there a
// block of 8 queries spans most of the space and its box keeps nearly every tile
// (measured, dense n = 20000, d = 16: single queries need 3.5% of the tiles, the box
// kept over half); at small d the box alone stops the walk early.
// Returns the number of tiles it folded.
std::size_t LsePrunedBlock(const PackedCenters& pc, const TileTree& tree, std::uint32_t root,
                           double log_tol_per_centre, const float* queries, std::size_t nq,
                           float alpha, float* buf, double* out) {
  std::size_t folded = 0;
  float run_max[kPruneQueries], qlo[kPruneMaxDim], qhi[kPruneMaxDim];
  double run_sum[kPruneQueries];
  std::fill(run_max, run_max + kPruneQueries, -std::numeric_limits<float>::infinity());
  std::fill(run_sum, run_sum + kPruneQueries, 0.0);
  const std::size_t d = pc.d;
  for (std::size_t k = 0; k < d; ++k) {
    qlo[k] = qhi[k] = queries[k];
    for (std::size_t r = 1; r < nq; ++r) qlo[k] = std::min(qlo[k], queries[r * d + k]), qhi[k] = std::max(qhi[k], queries[r * d + k]);
  }
  std::vector<std::pair<double, std::uint32_t>> heap{{NodeBound(tree, root, qlo, qhi, alpha), root}};
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const auto [bound, node] = heap.back();
    heap.pop_back();
    const float min_max = *std::min_element(run_max, run_max + nq);
    if (bound < min_max + log_tol_per_centre) break;  // every remaining node, every query
    bool needed = false;
    for (std::size_t r = 0; r < nq && !needed; ++r) {
      const float* q = queries + r * d;
      needed = NodeBound(tree, node, q, q, alpha) >= run_max[r] + log_tol_per_centre;
    }
    if (!needed) continue;
    if (tree.left[node] != TileTree::kNone) {
      for (std::uint32_t c : {tree.left[node], tree.right[node]}) {
        heap.push_back({NodeBound(tree, c, qlo, qhi, alpha), c});
        std::push_heap(heap.begin(), heap.end());
      }
      continue;
    }
    const std::size_t t = tree.tile_begin[node], T = pc.tile_width[t];
    ++folded;
    for (std::size_t r0 = 0; r0 < nq; r0 += kMicroQueries) {
      const float* q[kMicroQueries];
      for (std::size_t r = 0; r < kMicroQueries; ++r) q[r] = queries + std::min(r0 + r, nq - 1) * d;
      FoldMicroBlock(pc.tile_coords(t), pc.tile_log_weights(t), T, d, q, alpha, buf, run_max + r0,
                     run_sum + r0, std::min(kMicroQueries, nq - r0));
    }
  }
  for (std::size_t r = 0; r < nq; ++r) {
    out[r] = run_sum[r] > 0 ? (run_max[r] + std::log2(run_sum[r])) * kLn2
                            : -std::numeric_limits<double>::infinity();
  }
  return folded;
}

std::size_t LanesF32() { return hn::Lanes(DF()); }
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace infoflow::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>

namespace infoflow::detail {

HWY_EXPORT(LseQueryBlock);
HWY_EXPORT(LsePrunedBlock);

std::size_t lse_pruned_block(const PackedCenters& pc, const TileTree& tree, std::uint32_t root,
                             double log_tol_per_centre, const float* queries, std::size_t nq,
                             float alpha, float* buf, double* out) {
  return HWY_DYNAMIC_DISPATCH(LsePrunedBlock)(pc, tree, root, log_tol_per_centre, queries, nq, alpha,
                                       buf, out);
}
HWY_EXPORT(LanesF32);
HWY_EXPORT(TargetName);

std::size_t cpu_simd_lanes() { return HWY_DYNAMIC_DISPATCH(LanesF32)(); }

std::string dispatched_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace infoflow::detail

namespace infoflow {
std::string cpu_simd_target() { return detail::dispatched_target_name(); }
}  // namespace infoflow

namespace infoflow::detail {

void lse_cpu(const LseProblemF32& problem, SegmentsView seg, double* out, int threads,
             const ProgressFn& progress) {
  // Everything below works in log2 units: one exp2 per pair, no ln 2 range reduction.
  std::vector<float> log2_w(problem.n);
  for (std::size_t j = 0; j < problem.n; ++j) {
    log2_w[j] = static_cast<float>(problem.log_weights[j] * kLog2e);
  }
  LseProblemF32 p = problem;
  p.log_weights = log2_w.data();
  p.alpha = static_cast<float>(problem.alpha * kLog2e);
  if (p.tolerance > 0 && p.d <= kPruneMaxDim && lse_cpu_pruned(p, seg, out, threads, progress)) {
    return;
  }
  const std::size_t whole[2] = {0, p.n}, whole_q[2] = {0, p.m};
  if (seg.count == 0) seg = {whole_q, whole, 1};
  const PackedCenters pc = pack_centers(p.centers, p.log_weights, p.d, seg.center_offsets, seg.count);
  struct Block {
    std::size_t segment, row, rows;
  };
  std::vector<Block> blocks;  // dynamic scheduling balances unequal segments
  for (std::size_t s = 0; s < seg.count; ++s) {
    for (std::size_t r = seg.query_offsets[s]; r < seg.query_offsets[s + 1]; r += kBlockQueries) {
      blocks.push_back({s, r, std::min(kBlockQueries, seg.query_offsets[s + 1] - r)});
    }
  }
  const int nt = cpu_threads(threads);
  std::atomic<std::size_t> done{0};
  const auto report_every = std::max<std::size_t>(1, blocks.size() / 200);
#pragma omp parallel num_threads(nt)
  {
    auto buf = hwy::AllocateAligned<float>(kMicroQueries * std::max<std::size_t>(pc.max_tile, 1));
#pragma omp for schedule(dynamic, 1)
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const Block& k = blocks[b];
      HWY_DYNAMIC_DISPATCH(LseQueryBlock)(pc, pc.segment_tiles[k.segment],
                                          pc.segment_tiles[k.segment + 1],
                                          p.queries + k.row * p.d, k.rows, p.alpha, buf.get(),
                                          out + k.row);
      const std::size_t now = done.fetch_add(1) + 1;
      if (progress && omp_get_thread_num() == 0 && now % report_every == 0) {
        progress(static_cast<double>(now) / blocks.size());
      }
    }
  }
  if (progress) progress(1.0);
}

}  // namespace infoflow::detail
#endif  // HWY_ONCE
