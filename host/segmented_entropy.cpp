// Monte Carlo entropies of many mixtures in one segmented log-sum-exp (docs/method.md#the-monte-carlo-estimator):
// h(g_s) = -E log g_s(Y), Y ~ g_s, estimated from draws y = c + sigma z, each optionally
// with the control variate (|z|^2 - d)/2 (mean 0) subtracted: -log g(y) contains
// -log N(y; c, sigma^2) = const + |z|^2/2, whose chi^2 spread is most of the variance.
#include "segmented_entropy.hpp"
#include "checked.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "lse_implementations.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow::detail {
namespace {

// Query rows generated per pass: bounds the float64 staging buffer to about 128 MiB
// whatever d is, while keeping passes long enough to fill every core.
std::size_t chunk_rows(std::size_t d) {
  return std::clamp<std::size_t>((std::size_t{1} << 24) / d, 256, std::size_t{1} << 20);
}

// Centre and weight of global query g in segment s (first query of s is q0).
struct QuerySource {
  std::size_t center;
  double weight;
};

// cdf: per-segment cumulative weights (only for weighted selection).
QuerySource query_source(const PreparedCenters& c, const std::vector<std::size_t>& center_offsets,
                         const QueryPlan& plan, const std::vector<double>& cdf, std::size_t s,
                         std::size_t local, std::uint64_t seed, std::uint64_t row) {
  const std::size_t n_s = center_offsets[s + 1] - center_offsets[s];
  if (plan.per_mixture > 0 && plan.weighted_selection) {
    constexpr std::uint64_t k53 = std::uint64_t{1} << 53;
    const double u = (rng::uniform_index(seed, rng::Stream::QuerySelection, row, k53) + 0.5) / k53;
    const auto it = std::upper_bound(cdf.begin() + center_offsets[s], cdf.begin() + center_offsets[s + 1] - 1, u);
    return {static_cast<std::size_t>(it - cdf.begin()), 1.0};
  }
  if (plan.per_mixture > 0) {
    return {center_offsets[s] + rng::uniform_index(seed, rng::Stream::QuerySelection, row, n_s), 1.0};
  }
  const std::size_t i = center_offsets[s] + local / plan.per_center;
  return {i, std::exp(c.log_w[i])};
}

// Sums every rank's accumulators into every rank's. The ranks' shifts differ (each is its
// own first value): all rebase to their mean first, so the variance keeps its precision.
void merge_across_ranks(std::vector<MeanAccumulator>& acc, const Communicator& comm) {
  const std::size_t count = acc.size();
  std::vector<double> buf(2 * count);
  for (std::size_t s = 0; s < count; ++s) {
    if (acc[s].count > 0) buf[2 * s] = acc[s].shift, buf[2 * s + 1] = 1;
  }
  comm.sum(buf.data(), buf.size());
  std::vector<double> sums(6 * count);
  for (std::size_t s = 0; s < count; ++s) {
    MeanAccumulator& a = acc[s];
    const double b = buf[2 * s + 1] > 0 ? buf[2 * s] / buf[2 * s + 1] : 0.0;
    if (a.count > 0) a.rebase(b);
    a.shift = b;
    double* o = sums.data() + 6 * s;
    o[0] = a.sw, o[1] = a.swx, o[2] = a.sw2, o[3] = a.sw2x, o[4] = a.sw2x2, o[5] = static_cast<double>(a.count);
  }
  comm.sum(sums.data(), sums.size());
  for (std::size_t s = 0; s < count; ++s) {
    const double* o = sums.data() + 6 * s;
    acc[s].sw = o[0], acc[s].swx = o[1], acc[s].sw2 = o[2], acc[s].sw2x = o[3], acc[s].sw2x2 = o[4];
    acc[s].count = static_cast<std::size_t>(o[5]);
  }
}

std::string format_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void check_draw_extent(double raw, double centred, double sigma, Backend backend, const char* name) {
  const std::string s = std::string(name) + " = " + format_g(sigma);
  if (!(sigma >= 1e-150 && sigma <= 1e150)) {
    throw InvalidArgument(s + " is outside [1e-150, 1e150], where its square stays a normal float64; "
                          "rescale the data and " + name + " together");
  }
  raw /= sigma, centred /= sigma;
  if (raw > 0x1p47) {
    throw InvalidArgument(s + " is too small for these data: a coordinate lies " + format_g(raw) + " " + name +
                          " from 0, and float64 keeps a Monte Carlo draw c + " + name +
                          " z only within 2^47 " + name + " (1.4e14); rescale the data and " + name + " together");
  }
  if (backend != Backend::Reference && centred > 0x1p18) {
    throw InvalidArgument(s + " is too small for these data: a coordinate lies " + format_g(centred) + " " + name +
                          " from the mean, and the float32 " + std::string(backend_name(backend)) +
                          " backend keeps a Monte Carlo draw only within 2^18 " + name +
                          " (262144); use the reference backend (float64) or a larger " + name);
  }
}

void check_draw_resolution(const PreparedCenters& c, double sigma, Backend backend, const char* name) {
  const std::size_t n = c.raw.rows, d = c.raw.cols;
  const bool f32 = backend != Backend::Reference;  // c.mean is only there for them
  double raw = 0, centred = 0;
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t k = 0; k < d; ++k) {
      const double v = c.raw.data[j * d + k];
      raw = std::max(raw, std::abs(v));
      if (f32) centred = std::max(centred, std::abs(v - c.mean[k]));
    }
  }
  check_draw_extent(raw, centred, sigma, backend, name);
}

std::vector<MixtureEstimate> entropy_mc_segmented(Backend backend, const PreparedCenters& c,
                                                  const std::vector<std::size_t>& center_offsets,
                                                  const QueryPlan& plan, double sigma,
                                                  std::uint64_t seed, std::uint64_t row_base,
                                                  const ComputeOptions& opt, const ProgressFn& progress,
                                                  const ResidentMixture* resident) {
  const std::size_t count = center_offsets.size() - 1, d = c.raw.cols;
  if (resident != nullptr && (count != 1 || plan.per_center == 0)) {
    throw std::logic_error("entropy_mc_segmented: resident centres take one mixture and per-centre draws");
  }
  std::vector<std::size_t> query_offsets(count + 1, 0);  // query offsets per segment
  double pairs_total = 0;
  const char* what = "Monte Carlo draws (draws per centre x centres)";
  for (std::size_t s = 0; s < count; ++s) {
    const std::size_t n_s = center_offsets[s + 1] - center_offsets[s];
    const std::size_t q_s = plan.per_mixture > 0 ? plan.per_mixture : checked_mul(plan.per_center, n_s, what);
    query_offsets[s + 1] = checked_add(query_offsets[s], q_s, what);
    pairs_total += static_cast<double>(q_s) * n_s;
  }
  const std::size_t total = query_offsets[count];
  // Query rows index the Philox stream, and the terms of the mutual-information estimator
  // own 2^40 rows each (mutual_information.cpp): more draws would reuse another term's noise.
  if (total > kMaxDraws) {
    throw InvalidArgument(std::string(what) + ": " + std::to_string(total) + " is more than the 2^40 one estimate may use");
  }
  // Across ranks: chunk c goes to rank c mod P, with at least ~8 chunks per rank (block-
  // cyclic, so pruning's uneven rows even out). One process keeps its large chunks.
  const int ranks = opt.comm ? opt.comm->size() : 1, rank = opt.comm ? opt.comm->rank() : 0;
  std::size_t rows = std::min(chunk_rows(d), std::max<std::size_t>(total, 1));
  if (ranks > 1) {
    const std::size_t per = (total + 8 * static_cast<std::size_t>(ranks) - 1) / (8 * static_cast<std::size_t>(ranks));
    rows = std::clamp<std::size_t>((per + 255) / 256 * 256, 256, rows);
  }
  const double log_norm = 0.5 * d * std::log(2 * M_PI * sigma * sigma);
  // The normals of up to kNormalBlock query rows at a time: drawn in one batch
  // (rng::normal_rows), for rows [z_begin, z_end) of the chunk.
  constexpr std::size_t kNormalBlock = 256;
  std::vector<double> queries(resident != nullptr ? 0 : rows * d), lse(rows), z(resident != nullptr ? 0 : kNormalBlock * d);
  std::vector<double> weight(rows), cv(rows, 0.0);
  std::vector<std::size_t> seg_of(rows), chunk_query_offsets, chunk_center_offsets;
  std::vector<MeanAccumulator> acc(count);
  std::vector<double> cdf;  // weights normalised and accumulated within each segment
  if (plan.per_mixture > 0 && plan.weighted_selection) {
    cdf.resize(c.log_w.size());
    for (std::size_t s = 0; s < count; ++s) {
      double total = 0;
      for (std::size_t i = center_offsets[s]; i < center_offsets[s + 1]; ++i) total += std::exp(c.log_w[i]);
      double run = 0;
      for (std::size_t i = center_offsets[s]; i < center_offsets[s + 1]; ++i) cdf[i] = (run += std::exp(c.log_w[i]) / total);
    }
  }
  double pairs_done = 0;
  std::size_t s_first = 0;
  for (std::size_t g0 = 0, chunk = 0; g0 < total; g0 += rows, ++chunk) {
    if (static_cast<int>(chunk % static_cast<std::size_t>(ranks)) != rank) continue;
    const std::size_t m = std::min(rows, total - g0);
    while (query_offsets[s_first + 1] <= g0) ++s_first;
    chunk_query_offsets.assign(1, 0), chunk_center_offsets.assign(1, center_offsets[s_first]);
    double chunk_pairs = 0;
    std::size_t z_begin = 0, z_end = 0;
    for (std::size_t s = s_first, r = 0; r < m; ++s) {
      const std::size_t end = std::min(query_offsets[s + 1], g0 + m) - g0;
      for (; r < end; ++r) {
        const QuerySource src = query_source(c, center_offsets, plan, cdf, s, g0 + r - query_offsets[s], seed,
                                              row_base + g0 + r);
        weight[r] = src.weight, seg_of[r] = s;
        if (resident != nullptr) continue;  // drawn and scored where the centres are
        if (r >= z_end) {
          z_begin = r, z_end = std::min(m, r + kNormalBlock);
          rng::normal_rows(seed, rng::Stream::MonteCarloQueries, row_base + g0 + r, z_end - z_begin, d, z.data());
        }
        const double* zr = z.data() + (r - z_begin) * d;
        double zz = 0;
        for (std::size_t k = 0; k < d; ++k) {
          queries[r * d + k] = c.raw.data[src.center * d + k] + sigma * zr[k];
          zz += zr[k] * zr[k];
        }
        if (plan.control_variate) cv[r] = 0.5 * (zz - static_cast<double>(d));
      }
      chunk_query_offsets.push_back(end), chunk_center_offsets.push_back(center_offsets[s + 1]);
      chunk_pairs += static_cast<double>(end - (chunk_query_offsets[chunk_query_offsets.size() - 2])) * (center_offsets[s + 1] - center_offsets[s]);
    }
    const SegmentsView seg{chunk_query_offsets.data(), chunk_center_offsets.data(), chunk_query_offsets.size() - 1};
    ProgressFn part;
    if (progress) {
      // Each rank does about 1/P of the pairs: its own fraction, scaled, stands for the job's.
      part = [&](double f) { progress(std::min(1.0, ranks * (pairs_done + f * chunk_pairs) / pairs_total)); };
    }
    if (resident != nullptr) {
      resident->score_draws(seed, plan.per_center, row_base + g0, m, lse.data(), cv.data(), part);
      if (!plan.control_variate) std::fill(cv.begin(), cv.begin() + static_cast<std::ptrdiff_t>(m), 0.0);
    } else {
      lse_dispatch(backend, c, {queries.data(), m, d}, 1 / (2 * sigma * sigma), lse.data(), opt, part, seg);
    }
    pairs_done += chunk_pairs;
    for (std::size_t r = 0; r < m; ++r) acc[seg_of[r]].add(weight[r], -(lse[r] - log_norm) - cv[r]);
  }
  if (ranks > 1) merge_across_ranks(acc, *opt.comm);
  std::vector<MixtureEstimate> est(count);
  for (std::size_t s = 0; s < count; ++s) {
    est[s] = {acc[s].mean(), acc[s].standard_error(), query_offsets[s + 1] - query_offsets[s]};
  }
  return est;
}

}  // namespace infoflow::detail
