// The sample-propagation estimator of I(X; T_l) and I(Y; T_l) (PAPER.md §3):
// h(T_l) from all m K samples of S_l, h(T_l | X) as the mean over inputs of the mixture
// entropy of each input's K samples (one segmented log-sum-exp), h(T_l | Y) likewise per
// class. Layer 1 is deterministic given x, so h(T_1 | X) = (d_1/2) log(2 pi e beta^2).
#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include "entropy_mc.hpp"
#include "infoflow/network.hpp"
#include "nn/forward.hpp"

namespace infoflow {
namespace {

constexpr std::size_t kDefaultMcQueries = 8192;
constexpr std::size_t kMaxMcQueries = std::size_t{1} << 24;  // target_stderr stops here

struct Estimate {
  double value = 0, stderr = 0;
};

// Everything one layer's terms share: its samples and the estimator settings.
struct LayerJob {
  const std::vector<double>& s;  // (m K) x d samples S_l
  std::size_t m, K, d, layer;    // layer: 1-based
  const MutualInformationOptions& opt;
  Backend backend;
};

// Noise rows of distinct terms of distinct layers never overlap (2^40 rows each).
std::uint64_t row_base(std::size_t layer, std::size_t term) {
  return (static_cast<std::uint64_t>(layer) * 16 + term) << 40;
}

// Entropies of the mixtures with centres rows[co[s]..co[s+1]) of S_l (uniform weights within
// each), doubling the queries until every standard error is below target_stderr.
std::vector<detail::MixtureEstimate> mixture_entropies(const LayerJob& job,
                                                       const std::vector<std::size_t>& rows,
                                                       const std::vector<std::size_t>& co,
                                                       detail::QueryPlan plan, std::size_t term) {
  std::vector<double> c(rows.size() * job.d), w(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(job.s.begin() + rows[i] * job.d, job.d, c.begin() + i * job.d);
  }
  for (std::size_t seg = 0; seg + 1 < co.size(); ++seg) {
    for (std::size_t i = co[seg]; i < co[seg + 1]; ++i) w[i] = 1.0 / (co[seg + 1] - co[seg]);
  }
  const auto prepared = detail::prepare_centers({c.data(), rows.size(), job.d},
                                                {w.data(), w.size()}, job.opt.beta, job.backend);
  for (;;) {
    auto est = detail::entropy_mc_segmented(job.backend, prepared, co, plan, job.opt.beta,
                                            job.opt.seed, row_base(job.layer, term),
                                            job.opt.compute, {});
    double worst = 0;
    for (const auto& e : est) worst = std::max(worst, std::isnan(e.stderr) ? 0.0 : e.stderr);
    const bool grow = job.opt.target_stderr > 0 && worst > job.opt.target_stderr;
    if (!grow || (plan.per_mixture ? plan.per_mixture : plan.per_center * rows.size()) >= kMaxMcQueries) {
      return est;
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

// Centre rows of S_l: layer 1 has one distinct sample per input (row x K).
std::vector<std::size_t> distinct_rows(const LayerJob& job, const std::vector<std::size_t>& inputs) {
  std::vector<std::size_t> rows;
  for (std::size_t x : inputs) {
    for (std::size_t k = 0; k < (job.layer == 1 ? 1 : job.K); ++k) rows.push_back(x * job.K + k);
  }
  return rows;
}

Estimate entropy_given_x(const LayerJob& job) {
  if (job.layer == 1) return {gaussian_entropy(job.d, job.opt.beta), 0.0};
  std::vector<std::size_t> rows(job.m * job.K), co(job.m + 1);
  for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = r;
  for (std::size_t x = 0; x <= job.m; ++x) co[x] = x * job.K;
  detail::QueryPlan plan;
  plan.per_center = std::max<std::size_t>(1, job.opt.mc_samples_per_center);
  const auto est = mixture_entropies(job, rows, co, plan, 1);
  Estimate e;
  double var = 0;
  for (const auto& x : est) e.value += x.entropy / job.m, var += x.stderr * x.stderr;
  e.stderr = std::sqrt(var) / job.m;
  return e;
}

// h(T_l | Y) = sum_y p(y) h(T_l | Y = y), each class's samples one mixture.
Estimate entropy_given_y(const LayerJob& job, const std::map<std::int64_t, std::vector<std::size_t>>& classes) {
  std::vector<std::size_t> rows, co{0};
  std::vector<double> p;
  for (const auto& [label, members] : classes) {
    const auto r = distinct_rows(job, members);
    rows.insert(rows.end(), r.begin(), r.end());
    co.push_back(rows.size());
    p.push_back(static_cast<double>(members.size()) / job.m);
  }
  const auto est = mixture_entropies(job, rows, co, unconditional_plan(job.opt), 2);
  Estimate e;
  double var = 0;
  for (std::size_t y = 0; y < est.size(); ++y) {
    e.value += p[y] * est[y].entropy;
    var += p[y] * p[y] * (std::isnan(est[y].stderr) ? 0.0 : est[y].stderr * est[y].stderr);
  }
  e.stderr = std::sqrt(var);
  return e;
}

void validate(const Network& net, MatrixView<double> inputs, Span<const std::int64_t> labels,
              const MutualInformationOptions& opt, std::size_t noisy_layers) {
  if (net.layers.empty()) throw InvalidArgument("the network has no layers");
  detail::check_matrix(inputs, "inputs");
  if (inputs.cols != net.input_dim()) {
    throw InvalidArgument("inputs have " + std::to_string(inputs.cols) +
                          " columns but the first layer expects " + std::to_string(net.input_dim()));
  }
  if (!labels.empty() && labels.size != inputs.rows) {
    throw InvalidArgument("labels have " + std::to_string(labels.size) + " entries for " +
                          std::to_string(inputs.rows) + " inputs");
  }
  detail::check_positive(opt.beta, "beta");
  if (opt.samples_per_input < 1) throw InvalidArgument("samples per input must be >= 1");
  if (opt.target_stderr < 0 || !std::isfinite(opt.target_stderr)) {
    throw InvalidArgument("target standard error must be a finite number >= 0");
  }
  for (std::size_t l : opt.layers) {
    if (l < 1 || l > noisy_layers) {
      throw InvalidArgument("layer " + std::to_string(l) + " is not a noisy layer (1.." +
                            std::to_string(noisy_layers) + ")");
    }
  }
}

}  // namespace

MutualInformationResult mutual_information(const Network& net, MatrixView<double> inputs,
                                           Span<const std::int64_t> labels,
                                           const MutualInformationOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t L = net.layers.size(), noisy = opt.noisy_last_layer ? L : L - 1;
  validate(net, inputs, labels, opt, noisy);
  MutualInformationResult res;
  res.n_inputs = inputs.rows, res.samples_per_input = opt.samples_per_input, res.beta = opt.beta;
  res.backend = resolve_backend(opt.compute.backend);
  const auto samples = detail::propagate(net, inputs, opt.samples_per_input, opt.beta,
                                         opt.noisy_last_layer, opt.seed, opt.compute.threads,
                                         res.backend);
  std::map<std::int64_t, std::vector<std::size_t>> classes;
  for (std::size_t x = 0; x < labels.size; ++x) classes[labels[x]].push_back(x);
  std::vector<std::size_t> layers = opt.layers, all(inputs.rows);
  if (layers.empty()) {
    for (std::size_t l = 1; l <= noisy; ++l) layers.push_back(l);
  }
  for (std::size_t x = 0; x < all.size(); ++x) all[x] = x;
  for (std::size_t l : layers) {
    const LayerJob job{samples[l - 1], inputs.rows, opt.samples_per_input, net.layers[l - 1].out, l,
                       opt, res.backend};
    LayerInformation info;
    info.layer = l, info.width = job.d;
    const auto rows = distinct_rows(job, all);
    const auto h = mixture_entropies(job, rows, {0, rows.size()}, unconditional_plan(opt), 0)[0];
    info.h_T_nats = h.entropy, info.h_T_stderr_nats = h.stderr, info.mc_queries = h.queries;
    const Estimate hx = entropy_given_x(job);
    info.h_T_given_X_nats = hx.value, info.h_T_given_X_stderr_nats = hx.stderr;
    info.I_XT_nats = h.entropy - hx.value;
    info.I_XT_stderr_nats = std::hypot(h.stderr, hx.stderr);
    if (!classes.empty()) {
      const Estimate hy = entropy_given_y(job, classes);
      info.I_YT_nats = h.entropy - hy.value;
      info.I_YT_stderr_nats = std::hypot(h.stderr, hy.stderr);
    }
    res.layers.push_back(info);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace infoflow
