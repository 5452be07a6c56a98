// Internal: Monte Carlo entropies of many Gaussian mixtures at once (one segmented
// log-sum-exp), the engine behind mixture_entropy and the SP estimator.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "lse_dispatch.hpp"

namespace infoflow::detail {

// How the queries of each mixture are drawn. Exactly one of the two is non-zero.
// The most Monte Carlo draws one estimate may make (see entropy_mc_segmented).
inline constexpr std::size_t kMaxDraws = std::size_t{1} << 40;

struct QueryPlan {
  std::size_t per_center = 0;   // J draws c_i + sigma z for every centre (stratified)
  std::size_t per_mixture = 0;  // Q draws from the mixture: random centre + noise
  // per_mixture draws pick centre j with probability w_j (else uniformly: the centres'
  // weights must then be equal within each mixture).
  bool weighted_selection = false;
  bool control_variate = true;  // subtract (|z|^2 - d)/2 from each draw's -log g(y)
};

struct MixtureEstimate {
  double entropy = 0, stderr = 0;  // nats; stderr NaN with a single query
  std::size_t queries = 0;
};

// Throws InvalidArgument, naming `name` (sigma, beta) and the values, when the draws
// y = c + sigma z cannot carry the noise z: sigma outside [1e-150, 1e150] (sigma^2 and
// 1/sigma^2 must stay normal float64), a centre coordinate more than 2^47 sigma from 0
// (float64 rounds c + sigma z by more than sigma/64 there; every backend), or, on the
// float32 backends, more than 2^18 sigma from the centres' mean (float32 rounds by more
// than sigma/64). Beyond those the estimate would be silently wrong (z rounded away).
void check_draw_resolution(const PreparedCenters& c, double sigma, Backend backend, const char* name);
// The same from the extent of the data: raw = max |coordinate|, centred = max |coordinate -
// its column mean| (for centres that are not on the host: mixture_entropy_on_device).
void check_draw_extent(double raw, double centred, double sigma, Backend backend, const char* name);

// Weighted sums for an estimate and its standard error, in float64, shifted by the first
// value so that the variance does not cancel.
struct MeanAccumulator {
  double shift = 0, sw = 0, swx = 0, sw2 = 0, sw2x = 0, sw2x2 = 0;
  std::size_t count = 0;
  void add(double w, double x) {
    if (count++ == 0) shift = x;
    const double y = x - shift;
    sw += w, swx += w * y, sw2 += w * w, sw2x += w * w * y, sw2x2 += w * w * y * y;
  }
  double mean() const { return shift + swx / sw; }
  // The same sums about another shift b (exact algebra: y' = y + (shift - b)).
  void rebase(double b) {
    const double t = shift - b;
    sw2x2 += 2 * t * sw2x + t * t * sw2;
    swx += t * sw, sw2x += t * sw2;
    shift = b;
  }
  // Standard error of the weighted mean sum_r w_r x_r / sum_r w_r, treating the draws as
  // independent: with equal weights, sample std / sqrt(N). Conservative for stratified
  // (per-centre) draws, whose variance is lower.
  double standard_error() const {
    if (count < 2) return std::nan("");
    const double m = swx / sw;
    const double ss = std::max(0.0, sw2x2 - 2 * m * sw2x + m * m * sw2) / (sw * sw);
    return std::sqrt(ss * count / (count - 1.0));
  }
};

// A mixture whose centres stay where they already are (GPU memory: mixture_entropy_on_device),
// so the Monte Carlo queries are drawn there too, from the same Philox rows as on the host.
// The estimator (entropy_mc_segmented, mixture_entropy's bounds) asks it for sums; it
// never sees a query.
class ResidentMixture {
 public:
  virtual ~ResidentMixture() = default;
  // For draws g = first + r, r < rows, of J = per_center draws per centre (draw g is
  // c_{g / J} + sigma z, z the normals of Philox row g, stream MonteCarloQueries):
  // lse[r] = log sum_j w_j exp(-||y_g - c_j||^2 / (2 sigma^2)) and cv[r] = (|z|^2 - d) / 2.
  virtual void score_draws(std::uint64_t seed, std::size_t per_center, std::uint64_t first, std::size_t rows,
                           double* lse, double* cv, const ProgressFn& progress) const = 0;
  // lse[i] = log sum_j w_j exp(-alpha ||c_i - c_j||^2) for every centre i (the bounds).
  virtual void score_centres(double alpha, double* lse, const ProgressFn& progress) const = 0;
};

// Mixture s has centres [center_offsets[s], center_offsets[s + 1]) of c (count + 1
// offsets), weights given by c's log-weights renormalised within the segment (so the
// caller gives 1/n_s, or the mixture's own weights). Queries are numbered globally from
// `row_base`: query g of this call uses Philox rows row_base + g, so distinct calls with
// distinct row_base values draw independent noise from one seed.
// resident: the centres are not c's rows but resident's (one mixture, per_center plans
// only); c then gives their count, dimension and log-weights.
std::vector<MixtureEstimate> entropy_mc_segmented(Backend backend, const PreparedCenters& c,
                                                  const std::vector<std::size_t>& center_offsets,
                                                  const QueryPlan& plan, double sigma,
                                                  std::uint64_t seed, std::uint64_t row_base,
                                                  const ComputeOptions& opt, const ProgressFn& progress,
                                                  const ResidentMixture* resident = nullptr);

// The sums of the pairwise bounds (docs/method.md#pairwise-bounds) of many mixtures at
// once: for segment s (centres [center_offsets[s], center_offsets[s + 1]) of c),
// sum_{i in s} w_i LSE_i with
// LSE_i = log sum_{j in s} exp(log_w[j] - alpha ||c_i - c_j||^2) (c's log-weights,
// renormalised within s by the caller) and w the same weights in float64. The bound is
// then (d/2) log(2 pi e sigma^2) - sums[s]: alpha = 1/(2 sigma^2) the KL upper bound,
// 1/(8 sigma^2) the Bhattacharyya lower one. Under a communicator every rank returns
// the whole sums.
std::vector<double> pairwise_log_sums(Backend b, const PreparedCenters& c,
                                      const std::vector<std::size_t>& center_offsets, const std::vector<double>& w,
                                      double alpha, const ComputeOptions& opt, const ProgressFn& progress);

// mixture_entropy's estimate (Monte Carlo, then the pairwise bounds when asked) for prepared
// centres on a resolved backend, or for resident ones: the one estimator behind
// mixture_entropy and mixture_entropy_on_device. Fills every field but seconds; a value
// that is not finite is an InvalidArgument, never a result.
EntropyResult mixture_entropy_estimate(const PreparedCenters& c, Span<const double> weights,
                                       const EntropyOptions& opt, Backend backend,
                                       const ResidentMixture* resident = nullptr);

// Throws InvalidArgument naming the first query row whose log-density is not finite (below
// -1.8e308: too far from every centre), for log_density and log_density_on_device.
void check_finite_log_density(Span<const double> out, double sigma);

}  // namespace infoflow::detail
