// The cpu backend of log_density_backward's sweep (host/backward_sweep.hpp): Highway SIMD
// over the swept rows with runtime dispatch to the widest instruction set of the running
// CPU, OpenMP threads over owners.
//
// Numerics as the scalar reference (host/lse_backward.cpp): float64 direct differences,
// here in sigma units (rows divided by sigma once), one exp per pair (Highway's, within 1
// ulp), every pair evaluated. The swept rows are packed once into tiles of kTile rows,
// transposed to d x kTile, so one vector load reads the same coordinate of N swept rows;
// padding rows carry a = -inf and f = 0 and add exactly 0.
//
// Deterministic whatever the thread count: an owner's sums are made by one thread, in
// swept-row order per lane, and its lanes are added in lane order at the end. Which
// owners share a register block changes nothing in any owner's arithmetic.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/lse_backward_cpu.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/aligned_allocator.h>
#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "backward_sweep.hpp"
#include "infoflow/infoflow.hpp"

#ifndef INFOFLOW_LSE_BACKWARD_CPU_ONCE
#define INFOFLOW_LSE_BACKWARD_CPU_ONCE
namespace infoflow::detail {
// Swept rows per packed tile: a multiple of every x86 target's float64 lanes (2, 4, 8).
constexpr std::size_t kTile = 64;
// Owners per register block: 4 share each load of a swept coordinate, and their 4 x 2
// running sums plus 4 distances stay in registers even on 16-register AVX2.
constexpr std::size_t kBlockOwners = 4;
// Owners per scheduled chunk of the thread loop.
constexpr std::size_t kChunkOwners = 16;
// Exponents are capped here before the exp: Highway's exp is valid below 706, and a
// capped term is still e^700, so a log_density far below the forward's still shows as a
// sum far above 1 (the caller's check). Correct inputs stay below ~100.
constexpr double kMaxExponent = 700;

struct PackedSwept {
  std::size_t tiles = 0, d = 0;
  hwy::AlignedFreeUniquePtr<double[]> x;  // tiles x d x kTile, in sigma units
  hwy::AlignedFreeUniquePtr<double[]> a;  // tiles x kTile
  hwy::AlignedFreeUniquePtr<double[]> f;  // tiles x kTile
};
}  // namespace infoflow::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace infoflow::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DD = hn::ScalableTag<double>;
using VD = hn::Vec<DD>;

// Lanes of v added in lane order (not the target's own reduction, whose order is its own).
HWY_INLINE double SumLanesInOrder(DD dd, VD v) {
  HWY_ALIGN double lanes[hn::MaxLanes(DD())];
  hn::Store(v, dd, lanes);
  double s = 0;
  for (std::size_t l = 0; l < hn::Lanes(dd); ++l) s += lanes[l];
  return s;
}

// f exp(e), 0 where e < kMinExponent (host/backward_sweep.hpp says why), e capped at
// kMaxExponent. The exp sees e clamped to that range too: its last step scales by 2^n,
// which for e below -708 would make subnormal numbers even in lanes that are dropped.
HWY_INLINE VD Term(DD dd, VD e, VD f, VD floor, VD cap) {
  return hn::IfThenElseZero(hn::Ge(e, floor), hn::Mul(f, hn::Exp(dd, hn::Max(hn::Min(e, cap), floor))));
}

// One block of kBlockOwners owners (rows xo[r], d each, in sigma units; shifts b[r]) over
// every packed tile. acc: kBlockOwners * d * N doubles of scratch for the A sums (d x owner
// x lane). Writes S[r], B[r] and, when A is not null, A[r * d + k].
HWY_NOINLINE void SweepBlock(const PackedSwept& ps, const double* const* xo, const double* b, double* HWY_RESTRICT acc,
                             double* s_out, double* b_out, double* a_out) {
  const DD dd;
  const std::size_t N = hn::Lanes(dd), d = ps.d, T = kTile;
  const bool want_a = a_out != nullptr;
  if (want_a) std::fill(acc, acc + kBlockOwners * d * N, 0.0);
  const VD neg_half = hn::Set(dd, -0.5), cap = hn::Set(dd, kMaxExponent), floor = hn::Set(dd, kMinExponent);
  const VD b0 = hn::Set(dd, b[0]), b1 = hn::Set(dd, b[1]), b2 = hn::Set(dd, b[2]), b3 = hn::Set(dd, b[3]);
  VD s0 = hn::Zero(dd), s1 = s0, s2 = s0, s3 = s0, q0 = s0, q1 = s0, q2 = s0, q3 = s0;
  const double *x0 = xo[0], *x1 = xo[1], *x2 = xo[2], *x3 = xo[3];
  for (std::size_t t = 0; t < ps.tiles; ++t) {
    const double* HWY_RESTRICT x = ps.x.get() + t * d * T;
    const double* HWY_RESTRICT a = ps.a.get() + t * T;
    const double* HWY_RESTRICT f = ps.f.get() + t * T;
    for (std::size_t j = 0; j < T; j += N) {
      VD e0 = hn::Zero(dd), e1 = e0, e2 = e0, e3 = e0;
      for (std::size_t k = 0; k < d; ++k) {
        const VD xv = hn::Load(dd, x + k * T + j);
        const VD t0 = hn::Sub(hn::Set(dd, x0[k]), xv), t1 = hn::Sub(hn::Set(dd, x1[k]), xv);
        const VD t2 = hn::Sub(hn::Set(dd, x2[k]), xv), t3 = hn::Sub(hn::Set(dd, x3[k]), xv);
        e0 = hn::MulAdd(t0, t0, e0), e1 = hn::MulAdd(t1, t1, e1);
        e2 = hn::MulAdd(t2, t2, e2), e3 = hn::MulAdd(t3, t3, e3);
      }
      // e0..e3 hold the squared distances; the terms t = f exp(a + b - dist2 / 2).
      const VD av = hn::Load(dd, a + j), fv = hn::Load(dd, f + j);
      const VD w0 = Term(dd, hn::MulAdd(e0, neg_half, hn::Add(av, b0)), fv, floor, cap);
      const VD w1 = Term(dd, hn::MulAdd(e1, neg_half, hn::Add(av, b1)), fv, floor, cap);
      const VD w2 = Term(dd, hn::MulAdd(e2, neg_half, hn::Add(av, b2)), fv, floor, cap);
      const VD w3 = Term(dd, hn::MulAdd(e3, neg_half, hn::Add(av, b3)), fv, floor, cap);
      s0 = hn::Add(s0, w0), s1 = hn::Add(s1, w1), s2 = hn::Add(s2, w2), s3 = hn::Add(s3, w3);
      q0 = hn::MulAdd(w0, e0, q0), q1 = hn::MulAdd(w1, e1, q1);
      q2 = hn::MulAdd(w2, e2, q2), q3 = hn::MulAdd(w3, e3, q3);
      if (!want_a) continue;
      for (std::size_t k = 0; k < d; ++k) {
        const VD xv = hn::Load(dd, x + k * T + j);
        double* HWY_RESTRICT ak = acc + k * kBlockOwners * N;
        hn::Store(hn::MulAdd(w0, hn::Sub(hn::Set(dd, x0[k]), xv), hn::Load(dd, ak)), dd, ak);
        hn::Store(hn::MulAdd(w1, hn::Sub(hn::Set(dd, x1[k]), xv), hn::Load(dd, ak + N)), dd, ak + N);
        hn::Store(hn::MulAdd(w2, hn::Sub(hn::Set(dd, x2[k]), xv), hn::Load(dd, ak + 2 * N)), dd, ak + 2 * N);
        hn::Store(hn::MulAdd(w3, hn::Sub(hn::Set(dd, x3[k]), xv), hn::Load(dd, ak + 3 * N)), dd, ak + 3 * N);
      }
    }
  }
  s_out[0] = SumLanesInOrder(dd, s0), s_out[1] = SumLanesInOrder(dd, s1);
  s_out[2] = SumLanesInOrder(dd, s2), s_out[3] = SumLanesInOrder(dd, s3);
  b_out[0] = SumLanesInOrder(dd, q0), b_out[1] = SumLanesInOrder(dd, q1);
  b_out[2] = SumLanesInOrder(dd, q2), b_out[3] = SumLanesInOrder(dd, q3);
  if (!want_a) return;
  for (std::size_t r = 0; r < kBlockOwners; ++r) {
    for (std::size_t k = 0; k < d; ++k) a_out[r * d + k] = SumLanesInOrder(dd, hn::Load(dd, acc + (k * kBlockOwners + r) * N));
  }
}

std::size_t LanesF64() { return hn::Lanes(DD()); }

}  // namespace infoflow::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>

namespace infoflow::detail {

HWY_EXPORT(SweepBlock);
HWY_EXPORT(LanesF64);

namespace {

PackedSwept pack_swept(const BackwardSweep& p) {
  PackedSwept ps;
  const std::size_t d = p.d, T = kTile;
  ps.d = d;
  ps.tiles = (p.n_swept + T - 1) / T;
  ps.x = hwy::AllocateAligned<double>(std::max<std::size_t>(ps.tiles * d * T, 1));
  ps.a = hwy::AllocateAligned<double>(std::max<std::size_t>(ps.tiles * T, 1));
  ps.f = hwy::AllocateAligned<double>(std::max<std::size_t>(ps.tiles * T, 1));
  const double inv_s = 1 / p.sigma;
  for (std::size_t t = 0; t < ps.tiles; ++t) {
    for (std::size_t j = 0; j < T; ++j) {
      const std::size_t s = t * T + j;
      const bool real = s < p.n_swept;
      ps.a[t * T + j] = real ? p.a_swept[s] : -HUGE_VAL;
      ps.f[t * T + j] = real ? (p.f_swept != nullptr ? p.f_swept[s] : 1.0) : 0.0;
      for (std::size_t k = 0; k < d; ++k) ps.x[(t * d + k) * T + j] = real ? p.swept[s * d + k] * inv_s : 0.0;
    }
  }
  return ps;
}

}  // namespace

void backward_sweep_cpu(const BackwardSweep& p) {
  const std::size_t d = p.d, n = p.n_owners;
  const PackedSwept ps = pack_swept(p);
  const std::size_t lanes = HWY_DYNAMIC_DISPATCH(LanesF64)();
  const std::size_t chunks = (n + kChunkOwners - 1) / kChunkOwners;
  const double inv_s = 1 / p.sigma;
  const int nt = cpu_threads(p.threads);
#pragma omp parallel num_threads(nt)
  {
    auto acc = hwy::AllocateAligned<double>(kBlockOwners * d * std::max<std::size_t>(lanes, 8));
    std::vector<double> rows(kChunkOwners * d), a_block(kBlockOwners * d);
    std::vector<std::size_t> active;
#pragma omp for schedule(dynamic, 1)
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t o0 = c * kChunkOwners, o1 = std::min(n, o0 + kChunkOwners);
      active.clear();
      for (std::size_t o = o0; o < o1; ++o) {
        const double b = p.b_owner != nullptr ? p.b_owner[o] : 0.0;
        if (b == -HUGE_VAL) {  // its terms are all exp(-inf) = 0
          p.S[o] = 0;
          if (p.B != nullptr) p.B[o] = 0;
          if (p.A != nullptr) std::fill_n(p.A + o * d, d, 0.0);
          continue;
        }
        for (std::size_t k = 0; k < d; ++k) rows[(o - o0) * d + k] = p.owners[o * d + k] * inv_s;
        active.push_back(o);
      }
      for (std::size_t r0 = 0; r0 < active.size(); r0 += kBlockOwners) {
        // A short last block repeats its last owner; the copies' results are dropped.
        const double* xo[kBlockOwners];
        double b[kBlockOwners], s_out[kBlockOwners], b_out[kBlockOwners];
        std::size_t which[kBlockOwners];
        for (std::size_t r = 0; r < kBlockOwners; ++r) {
          which[r] = active[std::min(r0 + r, active.size() - 1)];
          xo[r] = rows.data() + (which[r] - o0) * d;
          b[r] = p.b_owner != nullptr ? p.b_owner[which[r]] : 0.0;
        }
        HWY_DYNAMIC_DISPATCH(SweepBlock)(ps, xo, b, acc.get(), s_out, b_out,
                                         p.A != nullptr ? a_block.data() : nullptr);
        for (std::size_t r = 0; r < kBlockOwners && r0 + r < active.size(); ++r) {
          const std::size_t o = which[r];
          p.S[o] = s_out[r];
          if (p.B != nullptr) p.B[o] = b_out[r];
          if (p.A != nullptr) std::copy_n(a_block.data() + r * d, d, p.A + o * d);
        }
      }
    }
  }
}

}  // namespace infoflow::detail
#endif  // HWY_ONCE
