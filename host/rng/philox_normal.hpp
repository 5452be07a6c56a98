// Standard normal draws from a counter-based generator (Random123 Philox-4x32-10).
//
// Draw (row, k) of stream `stream` under `seed` is a pure function of those four numbers,
// so every backend, thread count and tiling sees the same noise: the cpu and cuda
// backends and a run split across processes all estimate from identical queries.
// One Philox call yields four 32-bit words -> two 64-bit uniforms -> one Box-Muller
// pair, i.e. two normals for dimensions (2b, 2b+1) of a row. kernels/philox_normal.cuh
// makes the same draws on the device.
#pragma once

#include <Random123/philox.h>

#include <cstddef>
#include <cstdint>

namespace infoflow::rng {

// The pi of Random123's host-side sincospi fallback (boxmuller.hpp): each normal pair is
// sin and cos of kPhiloxPi * uneg11(u0), here (normal_rows.cpp) and on the device
// (kernels/philox_normal.cuh; CUDA's own sincospi(x) would round differently).
constexpr double kPhiloxPi = 3.1415926535897932;

// Streams keep independent uses of one seed apart (MC queries, network noise, ...).
enum class Stream : std::uint32_t {
  MonteCarloQueries = 1,
  QuerySelection = 2,
  TrainingShuffle = 3,
  WeightInit = 4,
  Public = 5,  // infoflow::standard_normal_rows: data for examples and tools
  LabelShuffle = 6,  // train --shuffle-labels
  InputResample = 7,  // the bootstrap draw of the inputs (MutualInformationOptions::resample_inputs)
  LayerNoiseBase = 16,           // + layer: sample propagation for the estimators
  TrainingNoiseBase = 1u << 16,  // + layer: the noise of training forward passes
};

// The noise Z_l of network layer l (1-based).
inline Stream layer_noise(std::size_t layer) {
  return static_cast<Stream>(static_cast<std::uint32_t>(Stream::LayerNoiseBase) + layer);
}

// The noise of layer l (1-based) in training forward passes.
inline Stream training_noise(std::size_t layer) {
  return static_cast<Stream>(static_cast<std::uint32_t>(Stream::TrainingNoiseBase) + layer);
}

// Fills out (rows x d, row-major) with the normals of rows row0 .. row0 + rows - 1.
// Normal (row, k) is the same whichever call, batch or thread makes it: Box-Muller on the
// Philox words of counter (k / 2, row, stream) under key seed (normal_rows.cpp), the
// transform in SIMD (Highway's sin, cos and log, within 3 ulp) on the widest target of
// the running CPU.
void normal_rows(std::uint64_t seed, Stream stream, std::uint64_t row0, std::size_t rows,
                 std::size_t d, double* out);

namespace detail {
// The uniforms normal_rows transforms: x[i] = uneg11(u0), y[i] = u01(u1) of the Philox
// words of counter (b[i], row[i], stream) under key (k0, k1), in SIMD; n a multiple of
// the lane count (8 covers every x86 target). Exposed for the tests.
void philox_uniforms(const std::uint64_t* b, const std::uint64_t* row, std::size_t n, std::uint32_t stream,
                     std::uint32_t k0, std::uint32_t k1, double* x, double* y);
}  // namespace detail

// Fills out[0..d) with the normals of `row`; batch with normal_rows where rows are many.
inline void normal_row(std::uint64_t seed, Stream stream, std::uint64_t row, double* out,
                       std::size_t d) {
  normal_rows(seed, stream, row, 1, d, out);
}

// A uniform integer in [0, bound) for `row` (bound > 0), e.g. which centre a query
// is drawn from; the 64-bit multiply-shift keeps the bias below 2^-32.
inline std::uint64_t uniform_index(std::uint64_t seed, Stream stream, std::uint64_t row,
                                   std::uint64_t bound) {
  using Philox = r123::Philox4x32;
  Philox gen;
  const Philox::key_type key = {{static_cast<std::uint32_t>(seed),
                                 static_cast<std::uint32_t>(seed >> 32)}};
  const Philox::ctr_type ctr = {{0u, static_cast<std::uint32_t>(row),
                                 static_cast<std::uint32_t>(row >> 32),
                                 static_cast<std::uint32_t>(stream)}};
  const Philox::ctr_type r = gen(ctr, key);
  const std::uint64_t u = (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(u) * bound) >> 64);
}

// A uniform double in [0, 1) with 53 random bits: word k of `row`.
inline double uniform_real(std::uint64_t seed, Stream stream, std::uint64_t row, std::uint32_t k) {
  using Philox = r123::Philox4x32;
  Philox gen;
  const Philox::key_type key = {{static_cast<std::uint32_t>(seed),
                                 static_cast<std::uint32_t>(seed >> 32)}};
  const Philox::ctr_type ctr = {{k, static_cast<std::uint32_t>(row),
                                 static_cast<std::uint32_t>(row >> 32),
                                 static_cast<std::uint32_t>(stream)}};
  const Philox::ctr_type r = gen(ctr, key);
  const std::uint64_t u = (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
  return static_cast<double>(u >> 11) * 0x1.0p-53;
}

}  // namespace infoflow::rng
