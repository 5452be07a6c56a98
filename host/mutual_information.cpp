// The sample-propagation estimator of I(X; T_l) and I(Y; T_l) (docs/method.md#sample-propagation):
// h(T_l) from all m K samples of S_l, h(T_l | X) as the mean over inputs of the mixture
// entropy of each input's K samples (one segmented log-sum-exp), h(T_l | Y) likewise per
// class. Layer 1 is deterministic given x, so h(T_1 | X) = (d_1/2) log(2 pi e beta^2).
// On request: the authors' bootstrap resample of the inputs, the plug-in bias by
// extrapolation in 1/K, and the pairwise bounds of every term.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include "checked.hpp"
#include "segmented_entropy.hpp"
#include "host_memory.hpp"
#include "infoflow/network.hpp"
#include "nn/forward.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow {
namespace {

constexpr std::size_t kDefaultMcQueries = 8192;
constexpr std::size_t kMaxMcQueries = std::size_t{1} << 24;  // target_stderr stops here

struct Estimate {
  double value = 0, stderr = 0;
  double float32 = 0;      // bound on its float32 rounding (docs/method.md#numerical-error)
  bool target_met = true;  // false: stopped at kMaxMcQueries above target_stderr
};

// The tested contract of the fast backends: an entropy (or pairwise bound) within
// 1e-5 max(1, |value|) of the float64 reference (docs/method.md#sigma-units-and-float32-accuracy).
double float32_relative(Backend b) { return b == Backend::Reference ? 0.0 : 1e-5; }

// Everything one layer's terms share: its samples and the estimator settings.
struct LayerJob {
  const double* s;            // (m K) x d samples S_l
  std::size_t m, K, d, layer;  // layer: 1-based; 0 for caller-given samples
  bool exact_given_x;          // layer 1 of a network: S_1 is a function of x
  const MutualInformationOptions& opt;
  Backend backend;
  double input_weight(std::size_t x) const {
    return opt.input_weights.empty() ? 1.0 / m : opt.input_weights[x];
  }
  // How much pruning can move one entropy: each log-sum-exp low by at most
  // log(1 + tolerance) (docs/method.md#pruning-bound); the reference never prunes.
  double pruning() const {
    return backend == Backend::Reference ? 0.0 : std::log1p(opt.compute.tolerance);
  }
};

using Classes = std::map<std::int64_t, std::vector<std::size_t>>;

// Noise rows of distinct terms of distinct layers never overlap (2^40 rows each).
std::uint64_t row_base(std::size_t layer, std::size_t term) {
  return (static_cast<std::uint64_t>(layer) * 16 + term) << 40;
}

// The mixtures g_s with centres rows[center_offsets[s]..center_offsets[s+1]) of S_l, each
// row weighted by its input's weight renormalised within its mixture: centres prepared for
// the backend, and the weights.
struct Mixtures {
  std::vector<double> c, w;
  detail::PreparedCenters prepared;
};
Mixtures mixtures(const LayerJob& job, const std::vector<std::size_t>& rows,
                  const std::vector<std::size_t>& center_offsets) {
  Mixtures mx;
  mx.c.resize(rows.size() * job.d), mx.w.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(job.s + rows[i] * job.d, job.d, mx.c.begin() + i * job.d);
  }
  std::vector<double>& w = mx.w;
  for (std::size_t seg = 0; seg + 1 < center_offsets.size(); ++seg) {
    double total = 0;
    for (std::size_t i = center_offsets[seg]; i < center_offsets[seg + 1]; ++i) total += (w[i] = job.input_weight(rows[i] / job.K));
    // A mixture of inputs that all have weight 0 enters with a_s = 0; its own weights only
    // need to be valid (0/0 would make the whole sum NaN).
    for (std::size_t i = center_offsets[seg]; i < center_offsets[seg + 1]; ++i) w[i] = total > 0 ? w[i] / total : 1.0 / (center_offsets[seg + 1] - center_offsets[seg]);
  }
  mx.prepared = detail::prepare_centers({mx.c.data(), rows.size(), job.d}, {w.data(), w.size()}, job.opt.beta,
                                        job.backend);
  detail::check_draw_resolution(mx.prepared, job.opt.beta, job.backend, "beta");
  return mx;
}

// sum_s a_s h(g_s) for the mixtures g_s with centres rows[center_offsets[s]..center_offsets[s+1])
// of S_l, each row weighted by its input's weight (renormalised within the mixture), with
// its standard error; queries double until that error is below target_stderr (when set).
Estimate weighted_entropy(const LayerJob& job, const std::vector<std::size_t>& rows,
                          const std::vector<std::size_t>& center_offsets, const std::vector<double>& a,
                          detail::QueryPlan plan, std::size_t term, std::size_t* queries = nullptr) {
  plan.weighted_selection = !job.opt.input_weights.empty();
  plan.control_variate = job.opt.control_variate;
  const Mixtures mx = mixtures(job, rows, center_offsets);
  const double eps = float32_relative(job.backend);
  for (;;) {
    const auto est = detail::entropy_mc_segmented(job.backend, mx.prepared, center_offsets, plan, job.opt.beta,
                                                  job.opt.seed, row_base(job.layer, term),
                                                  job.opt.compute, {});
    Estimate e;
    double var = 0;
    std::size_t used = 0;
    for (std::size_t i = 0; i < est.size(); ++i) {
      if (a[i] == 0) continue;  // contributes 0, whatever its estimate
      e.value += a[i] * est[i].entropy;
      e.float32 += a[i] * eps * std::max(1.0, std::abs(est[i].entropy));
      var += std::isnan(est[i].stderr) ? 0.0 : a[i] * a[i] * est[i].stderr * est[i].stderr;
      used += est[i].queries;
    }
    e.stderr = std::sqrt(var);
    if (queries != nullptr) *queries = used;
    const bool grow = job.opt.target_stderr > 0 && e.stderr > job.opt.target_stderr;
    if (!grow) return e;
    if (used >= kMaxMcQueries) {
      e.target_met = false;
      return e;
    }
    (plan.per_mixture ? plan.per_mixture : plan.per_center) *= 2;
  }
}

// Rigorous pairwise bounds of sum_s a_s h(g_s): each computed bound widened by its float32
// error and, for the lower one, by the pruning bound (pruning can only raise a bound).
struct Bracket {
  double lower = 0, upper = 0;
};
Bracket weighted_bounds(const LayerJob& job, const std::vector<std::size_t>& rows,
                        const std::vector<std::size_t>& center_offsets, const std::vector<double>& a) {
  const Mixtures mx = mixtures(job, rows, center_offsets);
  const double h_beta = gaussian_entropy(job.d, job.opt.beta), eps = float32_relative(job.backend);
  const double b2 = job.opt.beta * job.opt.beta;
  const auto lo = detail::pairwise_log_sums(job.backend, mx.prepared, center_offsets, mx.w, 1 / (8 * b2), job.opt.compute, {});
  const auto up = detail::pairwise_log_sums(job.backend, mx.prepared, center_offsets, mx.w, 1 / (2 * b2), job.opt.compute, {});
  Bracket b;
  for (std::size_t s = 0; s < a.size(); ++s) {
    if (a[s] == 0) continue;
    const double l = h_beta - lo[s], u = h_beta - up[s];
    b.lower += a[s] * (l - eps * std::max(1.0, std::abs(l)) - job.pruning());
    b.upper += a[s] * (u + eps * std::max(1.0, std::abs(u)));
  }
  return b;
}

detail::QueryPlan unconditional_plan(const MutualInformationOptions& opt) {
  detail::QueryPlan p;
  if (opt.mc_samples_per_center > 0) {
    p.per_center = opt.mc_samples_per_center;
  } else {
    p.per_mixture = opt.mc_queries > 0 ? opt.mc_queries : kDefaultMcQueries;
  }
  return p;
}

// One term of the estimator, h(T_l), h(T_l | X) or h(T_l | Y), as a weighted sum of
// mixture entropies: the centre rows of each mixture (segment offsets center_offsets) and
// its coefficient a_s.
struct Term {
  std::vector<std::size_t> rows, center_offsets{0};
  std::vector<double> a;
  void close(double coefficient) { center_offsets.push_back(rows.size()), a.push_back(coefficient); }
};

// The passes of input x in part p of `parts` equal parts of K / parts passes (the rest of
// K left out): k in [p K/parts, (p + 1) K/parts), row x K + k. Layer 1 of a network has
// one distinct sample per input, row x K. parts = 1: all K passes.
void add_passes(const LayerJob& job, std::size_t x, std::size_t parts, std::size_t p, std::vector<std::size_t>& rows) {
  if (job.exact_given_x) {
    rows.push_back(x * job.K);
    return;
  }
  const std::size_t kp = job.K / parts;
  for (std::size_t k = p * kp; k < (p + 1) * kp; ++k) rows.push_back(x * job.K + k);
}

// h(T_l): for each part, the mixture of every input's passes in it, averaged over parts.
Term pooled_term(const LayerJob& job, std::size_t parts) {
  Term t;
  for (std::size_t p = 0; p < parts; ++p) {
    for (std::size_t x = 0; x < job.m; ++x) add_passes(job, x, parts, p, t.rows);
    t.close(1.0 / static_cast<double>(parts));
  }
  return t;
}

// h(T_l | X) = sum_x p(x) h(T_l | X = x): one mixture per input and part.
Term given_x_term(const LayerJob& job, std::size_t parts) {
  Term t;
  for (std::size_t x = 0; x < job.m; ++x) {
    for (std::size_t p = 0; p < parts; ++p) {
      add_passes(job, x, parts, p, t.rows);
      t.close(job.input_weight(x) / static_cast<double>(parts));
    }
  }
  return t;
}

// h(T_l | Y) = sum_y p(y) h(T_l | Y = y): one mixture per class and part.
Term given_y_term(const LayerJob& job, const Classes& classes, std::size_t parts) {
  Term t;
  for (const auto& [label, members] : classes) {
    double p_y = 0;
    for (std::size_t x : members) p_y += job.input_weight(x);
    for (std::size_t p = 0; p < parts; ++p) {
      for (std::size_t x : members) add_passes(job, x, parts, p, t.rows);
      t.close(p_y / static_cast<double>(parts));
    }
  }
  return t;
}

// The conditional mixtures get J draws per centre: --mc-samples-per-center, else as many
// as spend the unconditional budget Q over their centres (at least 1).
detail::QueryPlan given_x_plan(const MutualInformationOptions& opt, std::size_t centres) {
  detail::QueryPlan plan;
  const std::size_t q = opt.mc_queries > 0 ? opt.mc_queries : kDefaultMcQueries;
  plan.per_center = opt.mc_samples_per_center > 0 ? opt.mc_samples_per_center
                                                  : std::max<std::size_t>(1, (q + centres - 1) / centres);
  return plan;
}

// Every term from `parts` disjoint subsets of K / parts passes per input. Each
// (parts, term) pair draws its own Philox rows (term ids 0-2 for all K passes, 3-5 for
// halves, 6-8 for quarters). Layer 1: h(T_1 | X) = (d/2) log(2 pi e beta^2) exactly.
struct Level {
  Estimate h, hx, hy;
};
Level estimate_level(const LayerJob& job, const Classes& classes, std::size_t parts, std::size_t* queries) {
  const std::size_t base = parts == 1 ? 0 : parts == 2 ? 3 : 6;
  Level v;
  const Term t = pooled_term(job, parts);
  v.h = weighted_entropy(job, t.rows, t.center_offsets, t.a, unconditional_plan(job.opt), base, queries);
  if (job.exact_given_x) {
    v.hx = {gaussian_entropy(job.d, job.opt.beta), 0.0};
  } else {
    const Term tx = given_x_term(job, parts);
    v.hx = weighted_entropy(job, tx.rows, tx.center_offsets, tx.a, given_x_plan(job.opt, tx.rows.size()), base + 1);
  }
  if (!classes.empty()) {
    const Term ty = given_y_term(job, classes, parts);
    v.hy = weighted_entropy(job, ty.rows, ty.center_offsets, ty.a, unconditional_plan(job.opt), base + 2);
  }
  return v;
}

// I and its numerical error bound from two terms: each entropy high by at most the
// pruning bound, so their difference moves by at most that much either way.
struct Info {
  double value, stderr, numerical;
};
Info difference(const LayerJob& job, const Estimate& h, const Estimate& given) {
  return {h.value - given.value, std::hypot(h.stderr, given.stderr), h.float32 + given.float32 + job.pruning()};
}

// The plug-in bias by extrapolation in 1/K (docs/method.md#bias-extrapolation): the
// least-squares line through (1/K_i, I_i) for K, K/2, K/4 passes, read at 1/K = 0. The
// three estimates have independent Monte Carlo noise.
struct Debiased {
  double value, stderr, bias, bias_stderr, numerical;
};
Debiased extrapolate(const std::array<std::size_t, 3>& k, const std::array<Info, 3>& est) {
  std::array<double, 3> x{};
  double xbar = 0;
  for (std::size_t i = 0; i < 3; ++i) xbar += (x[i] = 1.0 / static_cast<double>(k[i])) / 3;
  double sxx = 0;
  for (double xi : x) sxx += (xi - xbar) * (xi - xbar);
  Debiased r{0, 0, 0, 0, 0};
  double var = 0, var_bias = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    // The intercept is sum_i c_i I_i; with K divisible by 4, c = (1, 1/2, -1/2).
    const double c = 1.0 / 3 - xbar * (x[i] - xbar) / sxx;
    const double cb = (i == 0 ? 1.0 : 0.0) - c;  // bias = I_0 - intercept
    r.value += c * est[i].value;
    var += c * c * est[i].stderr * est[i].stderr;
    var_bias += cb * cb * est[i].stderr * est[i].stderr;
    r.numerical += std::abs(c) * est[i].numerical;
  }
  r.stderr = std::sqrt(var), r.bias = est[0].value - r.value, r.bias_stderr = std::sqrt(var_bias);
  return r;
}

LayerInformation layer_information(const LayerJob& job, const Classes& classes) {
  LayerInformation info;
  info.layer = job.layer, info.width = job.d;
  const Level full = estimate_level(job, classes, 1, &info.mc_queries);
  info.h_T_nats = full.h.value, info.h_T_stderr_nats = full.h.stderr;
  info.h_T_given_X_nats = full.hx.value, info.h_T_given_X_stderr_nats = full.hx.stderr;
  const Info ix = difference(job, full.h, full.hx);
  info.I_XT_nats = ix.value, info.I_XT_stderr_nats = ix.stderr;
  info.numerical_error_nats = ix.numerical;
  info.target_stderr_met = full.h.target_met && full.hx.target_met;
  Info iy{};
  if (!classes.empty()) {
    iy = difference(job, full.h, full.hy);
    info.I_YT_nats = iy.value, info.I_YT_stderr_nats = iy.stderr;
    info.numerical_error_nats = std::max(info.numerical_error_nats, iy.numerical);
    info.target_stderr_met = info.target_stderr_met && full.hy.target_met;
  }
  if (job.opt.bias_correction && job.exact_given_x) {
    // Layer 1's plug-in is exact (docs/method.md#layer-1): no bias to estimate.
    info.I_XT_bias_nats = 0, info.I_XT_bias_stderr_nats = 0;
    info.I_XT_debiased_nats = ix.value, info.I_XT_debiased_stderr_nats = ix.stderr;
    if (!classes.empty()) {
      info.I_YT_bias_nats = 0, info.I_YT_bias_stderr_nats = 0;
      info.I_YT_debiased_nats = iy.value, info.I_YT_debiased_stderr_nats = iy.stderr;
    }
  } else if (job.opt.bias_correction) {
    const Level half = estimate_level(job, classes, 2, nullptr), quarter = estimate_level(job, classes, 4, nullptr);
    const std::array<std::size_t, 3> k{job.K, job.K / 2, job.K / 4};
    const Debiased dx = extrapolate(k, {ix, difference(job, half.h, half.hx), difference(job, quarter.h, quarter.hx)});
    info.I_XT_bias_nats = dx.bias, info.I_XT_bias_stderr_nats = dx.bias_stderr;
    info.I_XT_debiased_nats = dx.value, info.I_XT_debiased_stderr_nats = dx.stderr;
    info.numerical_error_nats = std::max(info.numerical_error_nats, dx.numerical);
    if (!classes.empty()) {
      const Debiased dy = extrapolate(k, {iy, difference(job, half.h, half.hy), difference(job, quarter.h, quarter.hy)});
      info.I_YT_bias_nats = dy.bias, info.I_YT_bias_stderr_nats = dy.bias_stderr;
      info.I_YT_debiased_nats = dy.value, info.I_YT_debiased_stderr_nats = dy.stderr;
      info.numerical_error_nats = std::max(info.numerical_error_nats, dy.numerical);
    }
  }
  if (job.opt.bounds) {
    // upper bound of h(T) minus lower bound of the conditional term, and the reverse.
    const Term t = pooled_term(job, 1);
    const Bracket bt = weighted_bounds(job, t.rows, t.center_offsets, t.a);
    Bracket bx{gaussian_entropy(job.d, job.opt.beta), gaussian_entropy(job.d, job.opt.beta)};
    if (!job.exact_given_x) {
      const Term tx = given_x_term(job, 1);
      bx = weighted_bounds(job, tx.rows, tx.center_offsets, tx.a);
    }
    info.I_XT_lower_nats = bt.lower - bx.upper, info.I_XT_upper_nats = bt.upper - bx.lower;
    if (!classes.empty()) {
      const Term ty = given_y_term(job, classes, 1);
      const Bracket by = weighted_bounds(job, ty.rows, ty.center_offsets, ty.a);
      info.I_YT_lower_nats = bt.lower - by.upper, info.I_YT_upper_nats = bt.upper - by.lower;
    }
  }
  if (job.opt.clip_at_zero) {
    // NaN (a value not asked for) stays NaN: std::max would return 0 for it.
    for (double* v : {&info.I_XT_nats, &info.I_YT_nats, &info.I_XT_debiased_nats, &info.I_YT_debiased_nats,
                      &info.I_XT_lower_nats, &info.I_XT_upper_nats, &info.I_YT_lower_nats, &info.I_YT_upper_nats}) {
      if (*v < 0) *v = 0;
    }
  }
  return info;
}

void validate_options(MatrixView<double> inputs, Span<const std::int64_t> labels, const MutualInformationOptions& opt) {
  if (!labels.empty() && labels.size != inputs.rows) {
    throw InvalidArgument("labels have " + std::to_string(labels.size) + " entries for " +
                          std::to_string(inputs.rows) + " inputs");
  }
  detail::check_positive(opt.beta, "beta");
  detail::check_compute(opt.compute);
  detail::check_weights({opt.input_weights.data(), opt.input_weights.size()}, inputs.rows,
                        "input weights", "inputs");
  if (opt.samples_per_input < 1) throw InvalidArgument("samples per input must be >= 1");
  if (opt.target_stderr < 0 || !std::isfinite(opt.target_stderr)) {
    throw InvalidArgument("target standard error must be a finite number >= 0");
  }
  if (opt.bias_correction && opt.samples_per_input < 4) {
    throw InvalidArgument("bias correction re-estimates from K/2 and K/4 samples per input, so it needs K >= 4; got K = " +
                          std::to_string(opt.samples_per_input));
  }
  if (opt.resample_inputs != InputResample::None && !opt.input_weights.empty()) {
    throw InvalidArgument("a bootstrap resample draws the inputs uniformly, as the authors' code does; "
                          "it cannot be combined with input weights");
  }
}

std::map<std::int64_t, std::vector<std::size_t>> classes_of(Span<const std::int64_t> labels) {
  std::map<std::int64_t, std::vector<std::size_t>> classes;
  for (std::size_t x = 0; x < labels.size; ++x) classes[labels[x]].push_back(x);
  return classes;
}

void validate(const Network& net, MatrixView<double> inputs, Span<const std::int64_t> labels,
              const MutualInformationOptions& opt, std::size_t noisy_layers) {
  if (net.layers.empty()) throw InvalidArgument("the network has no layers");
  detail::check_matrix(inputs, "inputs");
  if (inputs.cols != net.input_dim()) {
    throw InvalidArgument("inputs have " + std::to_string(inputs.cols) +
                          " columns but the first layer expects " + std::to_string(net.input_dim()));
  }
  validate_options(inputs, labels, opt);
  for (std::size_t l : opt.layers) {
    if (l < 1 || l > noisy_layers) {
      throw InvalidArgument("layer " + std::to_string(l) + " is not a noisy layer (1.." +
                            std::to_string(noisy_layers) + ")");
    }
  }
}

// An estimate outside float64 (samples too far apart in units of beta) is refused.
void check_finite_information(const LayerInformation& l, bool with_labels, const MutualInformationOptions& opt) {
  for (const double v : {l.h_T_nats, l.h_T_given_X_nats, l.I_XT_nats}) {
    if (!std::isfinite(v)) {
      throw InvalidArgument("layer " + std::to_string(l.layer) + ": the estimate is not a finite number (" +
                            std::to_string(v) + "): the samples' distances in units of beta are outside float64");
    }
  }
  if (with_labels && !std::isfinite(l.I_YT_nats)) {
    throw InvalidArgument("layer " + std::to_string(l.layer) + ": I(Y;T) is not a finite number (" +
                          std::to_string(l.I_YT_nats) + ")");
  }
  std::vector<std::pair<const char*, double>> asked;
  if (opt.bias_correction) {
    asked.insert(asked.end(), {{"I(X;T) bias", l.I_XT_bias_nats}, {"debiased I(X;T)", l.I_XT_debiased_nats}});
    if (with_labels) asked.insert(asked.end(), {{"I(Y;T) bias", l.I_YT_bias_nats}, {"debiased I(Y;T)", l.I_YT_debiased_nats}});
  }
  if (opt.bounds) {
    asked.insert(asked.end(), {{"lower bound of I(X;T)", l.I_XT_lower_nats}, {"upper bound of I(X;T)", l.I_XT_upper_nats}});
    if (with_labels) {
      asked.insert(asked.end(), {{"lower bound of I(Y;T)", l.I_YT_lower_nats}, {"upper bound of I(Y;T)", l.I_YT_upper_nats}});
    }
  }
  for (const auto& [what, v] : asked) {
    if (!std::isfinite(v)) {
      throw InvalidArgument("layer " + std::to_string(l.layer) + ": the " + what + " is not a finite number (" +
                            std::to_string(v) + "): the samples' distances in units of beta are outside float64");
    }
  }
}

// -sum_i w_i ln w_i, 0 ln 0 = 0.
double entropy_of(const std::vector<double>& w) {
  double h = 0;
  for (double v : w) h -= v > 0 ? v * std::log(v) : 0.0;
  return h;
}

}  // namespace

InputResample parse_input_resample(std::string_view name) {
  if (name == "none") return InputResample::None;
  if (name == "bootstrap") return InputResample::Bootstrap;
  throw InvalidArgument("unknown input resample '" + std::string(name) + "' (expected none or bootstrap)");
}

std::string_view input_resample_name(InputResample r) {
  return r == InputResample::Bootstrap ? "bootstrap" : "none";
}

MutualInformationResult mutual_information(const Network& net, MatrixView<double> inputs,
                                           Span<const std::int64_t> labels,
                                           const MutualInformationOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t L = net.layers.size(), noisy = opt.noisy_last_layer || L == 0 ? L : L - 1;
  validate(net, inputs, labels, opt, noisy);
  if (noisy == 0) {
    throw InvalidArgument("the network has no noisy layer: its only layer is the output (affine logits without noise); "
                          "add noise to it with --noisy-last-layer (Python: noisy_last_layer=True)");
  }
  // Every layer's (m K) x width samples are held at once (detail::propagate).
  std::size_t widths = 0;
  for (const auto& l : net.layers) widths = detail::checked_add(widths, l.out, "network widths");
  const std::size_t samples_bytes = detail::checked_product(
      {inputs.rows, opt.samples_per_input, widths, sizeof(double)}, "noisy-pass samples (inputs x samples per input x widths)");
  detail::require_memory(static_cast<double>(samples_bytes), "the noisy-pass samples (" + std::to_string(inputs.rows) +
                                                                 " inputs x " + std::to_string(opt.samples_per_input) + " passes)");
  MutualInformationResult res;
  res.n_inputs = inputs.rows, res.samples_per_input = opt.samples_per_input, res.beta = opt.beta;
  res.backend = resolve_backend(opt.compute.backend);
  res.resample_inputs = opt.resample_inputs;
  const std::size_t m = inputs.rows;
  std::vector<double> p_x(opt.input_weights.empty() ? std::vector<double>(m, 1.0 / m) : opt.input_weights);
  // The bootstrap's entries replace the rows: entry i is row resampled_rows[i], with its
  // own passes (row i K + k of the noise) and its own conditional term
  // (docs/method.md#bootstrap-resample).
  std::vector<double> x_resampled;
  std::vector<std::int64_t> y_resampled;
  if (opt.resample_inputs == InputResample::Bootstrap) {
    res.resampled_rows.resize(m);
    x_resampled.resize(m * inputs.cols);
    std::fill(p_x.begin(), p_x.end(), 0.0);
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t r = rng::uniform_index(opt.seed, rng::Stream::InputResample, i, m);
      res.resampled_rows[i] = r;
      std::copy_n(inputs.data + r * inputs.cols, inputs.cols, x_resampled.begin() + i * inputs.cols);
      if (!labels.empty()) y_resampled.push_back(labels[r]);
      p_x[r] += 1.0 / m;
    }
    inputs.data = x_resampled.data();
    if (!labels.empty()) labels = {y_resampled.data(), y_resampled.size()};
  }
  res.input_entropy_nats = entropy_of(p_x);
  const auto samples = detail::propagate(net, inputs, opt.samples_per_input, opt.beta,
                                         opt.noisy_last_layer, opt.seed, opt.compute.threads,
                                         res.backend);
  const auto classes = classes_of(labels);
  std::vector<std::size_t> layers = opt.layers;
  if (layers.empty()) {
    for (std::size_t l = 1; l <= noisy; ++l) layers.push_back(l);
  }
  for (std::size_t l : layers) {
    const LayerJob job{samples[l - 1].data(), inputs.rows, opt.samples_per_input, net.layers[l - 1].out, l, l == 1,
                       opt, res.backend};
    res.layers.push_back(layer_information(job, classes));
    check_finite_information(res.layers.back(), !labels.empty(), opt);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

LayerInformation sample_information(MatrixView<double> samples, std::size_t K, Span<const std::int64_t> labels,
                                    const MutualInformationOptions& opt) {
  detail::check_matrix(samples, "samples");
  if (K < 1 || samples.rows % K != 0) {
    throw InvalidArgument("samples have " + std::to_string(samples.rows) + " rows, not a multiple of " +
                          std::to_string(K) + " samples per input");
  }
  const std::size_t m = samples.rows / K;
  if (opt.resample_inputs != InputResample::None) {
    throw InvalidArgument("a bootstrap resample of the inputs needs noisy passes of its own for every duplicate, "
                          "which only the network estimator makes; resample the inputs before propagating instead");
  }
  MutualInformationOptions o = opt;
  o.samples_per_input = K;
  validate_options({samples.data, m, samples.cols}, labels, o);
  const LayerJob job{samples.data, m, K, samples.cols, 0, false, o, resolve_backend(o.compute.backend)};
  LayerInformation info = layer_information(job, classes_of(labels));
  check_finite_information(info, !labels.empty(), o);
  return info;
}

}  // namespace infoflow
