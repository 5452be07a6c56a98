// The device side of host/rng/philox_normal.hpp: the same Philox counters, keys and
// Box-Muller arithmetic, so a kernel draws the normals rng::normal_rows gives on the
// host, up to the last ulps of CUDA's double sin/cos/log against Highway's (within 3). Used by
// the noisy forward passes (noisy_forward.cu) and the Monte Carlo draws made on the
// device (device_rows.cu, mixture_entropy_on_device).
#pragma once

#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <cstdint>

#include "rng/philox_normal.hpp"

namespace infoflow::detail {

// Normals (2b, 2b + 1) of `row`: rng::normal_row's Philox call and Box-Muller transform.
// u01 / uneg11 scale by powers of two, so an FMA there rounds exactly as the host does.
__device__ __forceinline__ double2 normal_pair(std::uint32_t key_lo, std::uint32_t key_hi,
                                               std::uint32_t stream, std::uint64_t row,
                                               std::uint32_t b) {
  using Philox = r123::Philox4x32;
  const Philox::ctr_type ctr = {{b, static_cast<std::uint32_t>(row),
                                 static_cast<std::uint32_t>(row >> 32), stream}};
  const Philox::key_type key = {{key_lo, key_hi}};
  const Philox::ctr_type r = Philox()(ctr, key);
  const std::uint64_t u0 = (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
  const std::uint64_t u1 = (static_cast<std::uint64_t>(r[2]) << 32) | r[3];
  double s, c;
  sincos(__dmul_rn(rng::kPhiloxPi, r123::uneg11<double>(u0)), &s, &c);
  const double rad = sqrt(-2.0 * log(r123::u01<double>(u1)));  // u01 never returns 0
  return make_double2(__dmul_rn(s, rad), __dmul_rn(c, rad));
}

}  // namespace infoflow::detail
