// rng::normal_rows: the Philox calls one by one (integer work, ~10 ns each), the
// Box-Muller transforms in SIMD batches. glibc's scalar sincos and log were ~35 ns a
// pair, most of a noisy forward pass (measured, SZT network, 409 600 samples: 0.50 s a
// pass, a third of an `infoflow mi` run).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "rng/normal_rows.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "rng/philox_normal.hpp"

#ifndef INFOFLOW_NORMAL_ROWS_ONCE
#define INFOFLOW_NORMAL_ROWS_ONCE
namespace infoflow::rng::detail {
// Box-Muller pairs per batch: small enough for the stack (4 x 2 KiB).
constexpr std::size_t kPairBatch = 256;
}  // namespace infoflow::rng::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace infoflow::rng::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// s[i], c[i] = the normals of (x[i], y[i]) = (uneg11(u0), u01(u1)): sin and cos of pi x,
// times sqrt(-2 log y). Lane-wise, so a pair's value does not depend on its place in the
// batch. Highway's Sin, Cos and Log are within 3 ulp, as glibc's are within 1.
void BoxMuller(const double* HWY_RESTRICT x, const double* HWY_RESTRICT y, std::size_t n,
               double* HWY_RESTRICT s, double* HWY_RESTRICT c) {
  const hn::ScalableTag<double> dd;
  const std::size_t N = hn::Lanes(dd);
  const auto pi = hn::Set(dd, kPhiloxPi), minus_two = hn::Set(dd, -2.0);
  for (std::size_t i = 0; i < n; i += N) {
    const auto a = hn::Mul(pi, hn::LoadU(dd, x + i));
    const auto r = hn::Sqrt(hn::Mul(minus_two, hn::Log(dd, hn::LoadU(dd, y + i))));
    hn::StoreU(hn::Mul(hn::Sin(dd, a), r), dd, s + i);
    hn::StoreU(hn::Mul(hn::Cos(dd, a), r), dd, c + i);
  }
}

std::size_t LanesF64() { return hn::Lanes(hn::ScalableTag<double>()); }

}  // namespace infoflow::rng::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace infoflow::rng {
namespace detail {
HWY_EXPORT(BoxMuller);
HWY_EXPORT(LanesF64);
}  // namespace detail

void normal_rows(std::uint64_t seed, Stream stream, std::uint64_t row0, std::size_t rows,
                 std::size_t d, double* out) {
  using Philox = r123::Philox4x32;
  using detail::kPairBatch;
  const Philox gen;
  const Philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const std::size_t pairs_per_row = (d + 1) / 2;
  HWY_ALIGN_MAX double x[kPairBatch], y[kPairBatch], s[kPairBatch], c[kPairBatch];
  const std::size_t lanes = HWY_DYNAMIC_DISPATCH(detail::LanesF64)();
  // The batch holds pairs (row, b) in row-major order; (fill_row, fill_b) is the next
  // pair to draw, (out_row, out_b) the next to write (no division per pair: ~40 cycles
  // each, as much as the Philox call).
  std::uint64_t fill_row = 0, out_row = 0;
  std::uint32_t fill_b = 0, out_b = 0;
  const std::size_t total = rows * pairs_per_row;
  for (std::size_t p0 = 0; p0 < total; p0 += kPairBatch) {
    const std::size_t n = std::min(kPairBatch, total - p0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t row = row0 + fill_row;
      const Philox::ctr_type ctr = {{fill_b, static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(row >> 32),
                                     static_cast<std::uint32_t>(stream)}};
      const Philox::ctr_type r = gen(ctr, key);
      x[i] = r123::uneg11<double>((static_cast<std::uint64_t>(r[0]) << 32) | r[1]);
      y[i] = r123::u01<double>((static_cast<std::uint64_t>(r[2]) << 32) | r[3]);  // never 0
      if (++fill_b == pairs_per_row) fill_b = 0, ++fill_row;
    }
    // The tail of the last batch is padded to whole vectors with a harmless pair.
    const std::size_t padded = std::min(kPairBatch, (n + lanes - 1) / lanes * lanes);
    std::fill(x + n, x + padded, 0.0), std::fill(y + n, y + padded, 0.5);
    HWY_DYNAMIC_DISPATCH(detail::BoxMuller)(x, y, padded, s, c);
    for (std::size_t i = 0; i < n; ++i) {
      double* o = out + out_row * d + 2 * out_b;
      o[0] = s[i];
      if (2 * out_b + 1 < d) o[1] = c[i];
      if (++out_b == pairs_per_row) out_b = 0, ++out_row;
    }
  }
}

}  // namespace infoflow::rng
#endif  // HWY_ONCE
