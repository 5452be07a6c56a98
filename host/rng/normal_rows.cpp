// rng::normal_rows: Philox-4x32-10 and the Box-Muller transform in SIMD, a batch of
// pairs at a time. glibc's scalar sincos and log were ~35 ns a pair and most of a noisy
// forward pass (SZT network, 409 600 samples: 0.50 s a pass, a third of an `infoflow mi`
// run); with those in SIMD, the scalar Philox calls (~15 ns) were the next 10%.
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
#include <string>

#include "infoflow/infoflow.hpp"
#include "rng/philox_normal.hpp"

#ifndef INFOFLOW_NORMAL_ROWS_ONCE
#define INFOFLOW_NORMAL_ROWS_ONCE
namespace infoflow::rng::detail {
// Box-Muller pairs per batch: small enough for the stack (six arrays of 2 KiB).
constexpr std::size_t kPairBatch = 256;
}  // namespace infoflow::rng::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace infoflow::rng::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x[i] = uneg11(u0), y[i] = u01(u1) of the Philox words of counter (b[i], row[i],
// stream) under key (k0, k1), as Random123 computes them, for i < n (n a multiple of
// the lane count). Each 32-bit word sits in a 64-bit lane, so that MulEven gives its
// whole product with the Philox multiplier.
void PhiloxUniforms(const std::uint64_t* HWY_RESTRICT b, const std::uint64_t* HWY_RESTRICT row,
                    std::size_t n, std::uint32_t stream, std::uint32_t k0, std::uint32_t k1,
                    double* HWY_RESTRICT x, double* HWY_RESTRICT y) {
#if HWY_TARGET == HWY_SCALAR
  using Philox = r123::Philox4x32;
  for (std::size_t i = 0; i < n; ++i) {
    const Philox::ctr_type r = Philox()({{static_cast<std::uint32_t>(b[i]), static_cast<std::uint32_t>(row[i]),
                                          static_cast<std::uint32_t>(row[i] >> 32), stream}},
                                        {{k0, k1}});
    x[i] = r123::uneg11<double>((static_cast<std::uint64_t>(r[0]) << 32) | r[1]);
    y[i] = r123::u01<double>((static_cast<std::uint64_t>(r[2]) << 32) | r[3]);
  }
#else
  const hn::ScalableTag<std::uint64_t> du;
  const hn::Repartition<std::uint32_t, decltype(du)> du32;
  const hn::RebindToSigned<decltype(du)> di;
  const hn::ScalableTag<double> dd;
  const std::size_t N = hn::Lanes(du);
  const auto low = hn::Set(du, 0xffffffffu);
  const auto m0 = hn::BitCast(du32, hn::Set(du, 0xD2511F53u));  // Random123's PHILOX_M4x32_0
  const auto m1 = hn::BitCast(du32, hn::Set(du, 0xCD9E8D57u));  // PHILOX_M4x32_1
  // A 64-bit integer v = hi 2^32 + lo as a double: both parts convert exactly and the
  // one rounding is that of the sum, so this is the correctly rounded conversion that
  // Random123's u01 and uneg11 start from; their scalings are by powers of two.
  const auto two32 = hn::Set(dd, 4294967296.0);
  const auto to_double = [&](auto hi, auto lo) HWY_ATTR {
    return hn::MulAdd(hn::ConvertTo(dd, hn::BitCast(di, hi)), two32, hn::ConvertTo(dd, hn::BitCast(di, lo)));
  };
  for (std::size_t i = 0; i < n; i += N) {
    const auto r = hn::LoadU(du, row + i);
    auto c0 = hn::LoadU(du, b + i), c1 = hn::And(r, low), c2 = hn::ShiftRight<32>(r), c3 = hn::Set(du, stream);
    std::uint32_t key0 = k0, key1 = k1;
    for (int round = 0; round < 10; ++round) {
      if (round > 0) key0 += 0x9E3779B9u, key1 += 0xBB67AE85u;  // PHILOX_W32_0, _1
      const auto p0 = hn::MulEven(m0, hn::BitCast(du32, c0)), p1 = hn::MulEven(m1, hn::BitCast(du32, c2));
      c0 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p1), c1), hn::Set(du, key0));
      c1 = hn::And(p1, low);
      c2 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p0), c3), hn::Set(du, key1));
      c3 = hn::And(p0, low);
    }
    // u0 = c0 2^32 + c1 read as signed (uneg11), u1 = c2 2^32 + c3 unsigned (u01).
    const auto signed_hi = hn::BitCast(du, hn::ShiftRight<32>(hn::BitCast(di, hn::ShiftLeft<32>(c0))));
    const auto u0 = to_double(signed_hi, c1), u1 = to_double(c2, c3);
    hn::StoreU(hn::Add(hn::Mul(u0, hn::Set(dd, 0x1p-63)), hn::Set(dd, 0x1p-64)), dd, x + i);
    hn::StoreU(hn::Add(hn::Mul(u1, hn::Set(dd, 0x1p-64)), hn::Set(dd, 0x1p-65)), dd, y + i);
  }
#endif
}

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
HWY_EXPORT(PhiloxUniforms);
HWY_EXPORT(BoxMuller);
HWY_EXPORT(LanesF64);

void philox_uniforms(const std::uint64_t* b, const std::uint64_t* row, std::size_t n, std::uint32_t stream,
                     std::uint32_t k0, std::uint32_t k1, double* x, double* y) {
  HWY_DYNAMIC_DISPATCH(PhiloxUniforms)(b, row, n, stream, k0, k1, x, y);
}
}  // namespace detail

void normal_rows(std::uint64_t seed, Stream stream, std::uint64_t row0, std::size_t rows,
                 std::size_t d, double* out) {
  using detail::kPairBatch;
  const std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  const std::uint32_t pairs_per_row = static_cast<std::uint32_t>((d + 1) / 2);
  HWY_ALIGN_MAX std::uint64_t b[kPairBatch], row[kPairBatch];
  HWY_ALIGN_MAX double x[kPairBatch], y[kPairBatch], s[kPairBatch], c[kPairBatch];
  const std::size_t lanes = HWY_DYNAMIC_DISPATCH(detail::LanesF64)();
  // The batch holds pairs (row, b) in row-major order; (fill_row, fill_b) is the next
  // pair to draw (a cursor, not a division per pair).
  std::uint64_t fill_row = 0;
  std::uint32_t fill_b = 0;
  const std::size_t total = rows * pairs_per_row;
  for (std::size_t p0 = 0; p0 < total; p0 += kPairBatch) {
    const std::size_t n = std::min(kPairBatch, total - p0);
    // The tail of the last batch is padded to whole vectors with copies of its last pair.
    const std::size_t padded = std::min(kPairBatch, (n + lanes - 1) / lanes * lanes);
    for (std::size_t i = 0; i < padded; ++i) {
      b[i] = fill_b, row[i] = row0 + fill_row;
      if (i + 1 < n && ++fill_b == pairs_per_row) fill_b = 0, ++fill_row;
    }
    if (++fill_b == pairs_per_row) fill_b = 0, ++fill_row;  // past the batch's last pair
    HWY_DYNAMIC_DISPATCH(detail::PhiloxUniforms)(b, row, padded, static_cast<std::uint32_t>(stream), k0, k1, x, y);
    HWY_DYNAMIC_DISPATCH(detail::BoxMuller)(x, y, padded, s, c);
    for (std::size_t i = 0; i < n; ++i) {
      double* o = out + (row[i] - row0) * d + 2 * b[i];
      o[0] = s[i];
      if (2 * b[i] + 1 < d) o[1] = c[i];
    }
  }
}

}  // namespace infoflow::rng

namespace infoflow {
void standard_normal_rows(std::uint64_t seed, std::uint64_t first_row, std::size_t rows, std::size_t cols,
                          double* out) {
  rng::normal_rows(seed, rng::Stream::Public, first_row, rows, cols, out);
}

void monte_carlo_normals(std::uint64_t seed, std::uint64_t row0, std::size_t rows, std::size_t d, Span<double> out) {
  if (d == 0) throw InvalidArgument("monte_carlo_normals: d must be >= 1");
  if (rows > (std::uint64_t{1} << 40) || row0 > (std::uint64_t{1} << 40) - rows) {
    throw InvalidArgument("monte_carlo_normals: rows " + std::to_string(row0) + " + " + std::to_string(rows) +
                          " reach past the 2^40 rows one estimate may use");
  }
  if (rows > out.size / d || out.size != rows * d) {
    throw InvalidArgument("monte_carlo_normals: out has " + std::to_string(out.size) + " entries, expected " +
                          std::to_string(rows) + " x " + std::to_string(d));
  }
  rng::normal_rows(seed, rng::Stream::MonteCarloQueries, row0, rows, d, out.data);
}

}  // namespace infoflow
#endif  // HWY_ONCE
