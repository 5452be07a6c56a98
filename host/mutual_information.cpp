// The sample-propagation estimator of I(X; T_l) and I(Y; T_l) (docs/method.md#sample-propagation):
// h(T_l) from all m K samples of S_l, h(T_l | X) as the mean over inputs of the mixture
// entropy of each input's K samples (one segmented log-sum-exp), h(T_l | Y) likewise per
// class. Layer 1 is deterministic given x, so h(T_1 | X) = (d_1/2) log(2 pi e beta^2).
#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include "checked.hpp"
#include "segmented_entropy.hpp"
#include "host_memory.hpp"
#include "infoflow/network.hpp"
#include "nn/forward.hpp"

namespace infoflow {
namespace {

constexpr std::size_t kDefaultMcQueries = 8192;
constexpr std::size_t kMaxMcQueries = std::size_t{1} << 24;  // target_stderr stops here

struct Estimate {
  double value = 0, stderr = 0;
  bool target_met = true;  // false: stopped at kMaxMcQueries above target_stderr
};

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
};

// Noise rows of distinct terms of distinct layers never overlap (2^40 rows each).
std::uint64_t row_base(std::size_t layer, std::size_t term) {
  return (static_cast<std::uint64_t>(layer) * 16 + term) << 40;
}

// sum_s a_s h(g_s) for the mixtures g_s with centres rows[center_offsets[s]..center_offsets[s+1]) of S_l, each row
// weighted by its input's weight (renormalised within the mixture), with its standard
// error; queries double until that error is below target_stderr (when set).
Estimate weighted_entropy(const LayerJob& job, const std::vector<std::size_t>& rows,
                          const std::vector<std::size_t>& center_offsets, const std::vector<double>& a,
                          detail::QueryPlan plan, std::size_t term, std::size_t* queries = nullptr) {
  std::vector<double> c(rows.size() * job.d), w(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(job.s + rows[i] * job.d, job.d, c.begin() + i * job.d);
  }
  for (std::size_t seg = 0; seg + 1 < center_offsets.size(); ++seg) {
    double total = 0;
    for (std::size_t i = center_offsets[seg]; i < center_offsets[seg + 1]; ++i) total += (w[i] = job.input_weight(rows[i] / job.K));
    // A mixture of inputs that all have weight 0 enters with a_s = 0; its own weights only
    // need to be valid (0/0 would make the whole sum NaN).
    for (std::size_t i = center_offsets[seg]; i < center_offsets[seg + 1]; ++i) w[i] = total > 0 ? w[i] / total : 1.0 / (center_offsets[seg + 1] - center_offsets[seg]);
  }
  plan.weighted_selection = !job.opt.input_weights.empty();
  plan.control_variate = job.opt.control_variate;
  const auto prepared = detail::prepare_centers({c.data(), rows.size(), job.d},
                                                {w.data(), w.size()}, job.opt.beta, job.backend);
  detail::check_draw_resolution(prepared, job.opt.beta, job.backend, "beta");
  for (;;) {
    const auto est = detail::entropy_mc_segmented(job.backend, prepared, center_offsets, plan, job.opt.beta,
                                                  job.opt.seed, row_base(job.layer, term),
                                                  job.opt.compute, {});
    Estimate e;
    double var = 0;
    std::size_t used = 0;
    for (std::size_t i = 0; i < est.size(); ++i) {
      if (a[i] == 0) continue;  // contributes 0, whatever its estimate
      e.value += a[i] * est[i].entropy;
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

detail::QueryPlan unconditional_plan(const MutualInformationOptions& opt) {
  detail::QueryPlan p;
  if (opt.mc_samples_per_center > 0) {
    p.per_center = opt.mc_samples_per_center;
  } else {
    p.per_mixture = opt.mc_queries > 0 ? opt.mc_queries : kDefaultMcQueries;
  }
  return p;
}

// Centre rows of S_l: layer 1 of a network has one distinct sample per input (row x K).
std::vector<std::size_t> distinct_rows(const LayerJob& job, const std::vector<std::size_t>& inputs) {
  std::vector<std::size_t> rows;
  for (std::size_t x : inputs) {
    for (std::size_t k = 0; k < (job.exact_given_x ? 1 : job.K); ++k) rows.push_back(x * job.K + k);
  }
  return rows;
}

// h(T_l | X) = sum_x p(x) h(T_l | X = x); layer 1 exactly (d/2) log(2 pi e beta^2). The m
// conditional mixtures get J draws per centre: --mc-samples-per-center, else as many as
// spend the unconditional budget Q over the m K centres (at least 1).
Estimate entropy_given_x(const LayerJob& job) {
  if (job.exact_given_x) return {gaussian_entropy(job.d, job.opt.beta), 0.0};
  std::vector<std::size_t> rows(job.m * job.K), center_offsets(job.m + 1);
  std::vector<double> a(job.m);
  for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = r;
  for (std::size_t x = 0; x <= job.m; ++x) center_offsets[x] = x * job.K;
  for (std::size_t x = 0; x < job.m; ++x) a[x] = job.input_weight(x);
  detail::QueryPlan plan;
  const std::size_t q = job.opt.mc_queries > 0 ? job.opt.mc_queries : kDefaultMcQueries;
  plan.per_center = job.opt.mc_samples_per_center > 0
                        ? job.opt.mc_samples_per_center
                        : std::max<std::size_t>(1, (q + rows.size() - 1) / rows.size());
  return weighted_entropy(job, rows, center_offsets, a, plan, 1);
}

// h(T_l | Y) = sum_y p(y) h(T_l | Y = y), each class's samples one mixture.
Estimate entropy_given_y(const LayerJob& job, const std::map<std::int64_t, std::vector<std::size_t>>& classes) {
  std::vector<std::size_t> rows, center_offsets{0};
  std::vector<double> p;
  for (const auto& [label, members] : classes) {
    const auto r = distinct_rows(job, members);
    rows.insert(rows.end(), r.begin(), r.end());
    center_offsets.push_back(rows.size());
    double p_y = 0;
    for (std::size_t x : members) p_y += job.input_weight(x);
    p.push_back(p_y);
  }
  return weighted_entropy(job, rows, center_offsets, p, unconditional_plan(job.opt), 2);
}

LayerInformation layer_information(const LayerJob& job, const std::map<std::int64_t, std::vector<std::size_t>>& classes) {
  LayerInformation info;
  info.layer = job.layer, info.width = job.d;
  std::vector<std::size_t> all(job.m);
  for (std::size_t x = 0; x < all.size(); ++x) all[x] = x;
  const auto rows = distinct_rows(job, all);
  const Estimate h = weighted_entropy(job, rows, {0, rows.size()}, {1.0}, unconditional_plan(job.opt), 0,
                                      &info.mc_queries);
  info.h_T_nats = h.value, info.h_T_stderr_nats = h.stderr;
  const Estimate hx = entropy_given_x(job);
  info.h_T_given_X_nats = hx.value, info.h_T_given_X_stderr_nats = hx.stderr;
  info.I_XT_nats = h.value - hx.value;
  info.I_XT_stderr_nats = std::hypot(h.stderr, hx.stderr);
  info.target_stderr_met = h.target_met && hx.target_met;
  if (!classes.empty()) {
    const Estimate hy = entropy_given_y(job, classes);
    info.I_YT_nats = h.value - hy.value;
    info.I_YT_stderr_nats = std::hypot(h.stderr, hy.stderr);
    info.target_stderr_met = info.target_stderr_met && hy.target_met;
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
void check_finite_information(const LayerInformation& l, bool with_labels) {
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
}

}  // namespace

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
    check_finite_information(res.layers.back(), !labels.empty());
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

  MutualInformationOptions o = opt;
  o.samples_per_input = K;
  validate_options({samples.data, m, samples.cols}, labels, o);
  const LayerJob job{samples.data, m, K, samples.cols, 0, false, o, resolve_backend(o.compute.backend)};
  LayerInformation info = layer_information(job, classes_of(labels));
  check_finite_information(info, !labels.empty());
  return info;
}

}  // namespace infoflow
