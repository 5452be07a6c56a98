// `infoflow mi`: I(X; T_l) (and I(Y; T_l)) of every noisy layer of a safetensors model.
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/progress.hpp"
#include "infoflow/network.hpp"
#include "infoflow/io.hpp"
#include "cli/mpi/mpi_session.hpp"

namespace infoflow::cli {
namespace {

struct MiArgs {
  std::string model, inputs, labels, input_weights, activation, layers = "all", backend = "auto";
  double beta = 0, target_stderr = 0, tolerance = ComputeOptions{}.tolerance;
  std::uint64_t samples_per_input = 100, mc_samples_per_center = 0, mc_queries = 0;
  std::uint64_t seed = 0;
  int threads = 0;
  bool noisy_last = false, json = false, no_control_variate = false;
  EstimatorFlags estimator;
};

std::vector<std::size_t> parse_layers(const std::string& s) {
  if (s == "all") return {};
  return parse_positive_list(s, "--layers (1-based layer numbers, or 'all')");
}

MutualInformationOptions options_from(const MiArgs& a) {
  check_threads_option(a.threads);
  check_tolerance_option(a.tolerance);
  if (!(std::isfinite(a.beta) && a.beta > 0)) {
    throw InvalidArgument("--beta must be a finite number > 0, got " + std::to_string(a.beta));
  }
  MutualInformationOptions o;
  o.beta = a.beta;
  o.samples_per_input = static_cast<std::size_t>(a.samples_per_input);
  o.mc_samples_per_center = static_cast<std::size_t>(a.mc_samples_per_center);
  o.mc_queries = static_cast<std::size_t>(a.mc_queries);
  o.target_stderr = a.target_stderr;
  o.noisy_last_layer = a.noisy_last;
  o.control_variate = !a.no_control_variate;
  o.layers = parse_layers(a.layers);
  o.seed = a.seed;
  o.compute.backend = parse_backend(a.backend);
  o.compute.threads = a.threads;
  o.compute.tolerance = a.tolerance;
  a.estimator.apply(o);
  return o;
}

nlohmann::json to_json(const MutualInformationResult& r, bool with_labels, const MutualInformationOptions& o) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerInformation& l : r.layers) {
    nlohmann::json j = {{"layer", l.layer},
                        {"width", l.width},
                        {"h_T_nats", l.h_T_nats},
                        {"h_T_stderr_nats", number_or_null(l.h_T_stderr_nats)},
                        {"h_T_given_X_nats", l.h_T_given_X_nats},
                        {"I_XT_nats", l.I_XT_nats},
                        {"I_XT_stderr_nats", number_or_null(l.I_XT_stderr_nats)},
                        {"mc_queries", l.mc_queries},
                        {"target_stderr_met", l.target_stderr_met},
                        {"numerical_error_nats", l.numerical_error_nats}};
    if (with_labels) {
      j["I_YT_nats"] = number_or_null(l.I_YT_nats);
      j["I_YT_stderr_nats"] = number_or_null(l.I_YT_stderr_nats);
    }
    for (const char* v : {"XT", "YT"}) {
      if (v[0] == 'Y' && !with_labels) continue;
      const bool x = v[0] == 'X';
      const std::string I = std::string("I_") + v;
      if (o.bias_correction) {
        j[I + "_bias_nats"] = number_or_null(x ? l.I_XT_bias_nats : l.I_YT_bias_nats);
        j[I + "_bias_stderr_nats"] = number_or_null(x ? l.I_XT_bias_stderr_nats : l.I_YT_bias_stderr_nats);
        j[I + "_debiased_nats"] = number_or_null(x ? l.I_XT_debiased_nats : l.I_YT_debiased_nats);
        j[I + "_debiased_stderr_nats"] = number_or_null(x ? l.I_XT_debiased_stderr_nats : l.I_YT_debiased_stderr_nats);
      }
      if (o.bounds) {
        j[I + "_lower_nats"] = number_or_null(x ? l.I_XT_lower_nats : l.I_YT_lower_nats);
        j[I + "_upper_nats"] = number_or_null(x ? l.I_XT_upper_nats : l.I_YT_upper_nats);
      }
    }
    layers.push_back(j);
  }
  nlohmann::json out = {{"beta", r.beta},           {"n_inputs", r.n_inputs},
                        {"samples_per_input", r.samples_per_input},
                        {"backend", backend_name(r.backend)}, {"ranks", session().size()},
                        {"seconds", r.seconds}, {"layers", layers},
                        {"resample_inputs", input_resample_name(r.resample_inputs)},
                        {"input_entropy_nats", r.input_entropy_nats},
                        {"clip_at_zero", o.clip_at_zero},
                        {"bias_correction", o.bias_correction},
                        {"bounds", o.bounds},
                        {"seed", o.seed}};
  return out;
}

// The +- of each I is its standard error plus the numerical error bound
// (docs/method.md#numerical-error): with the control variate the standard error alone can
// read 0.0000 while float32 rounding is 1e-4.
void print_text(const MutualInformationResult& r, bool with_labels, const MutualInformationOptions& o) {
  std::printf("%zu inputs x %zu noisy passes, beta = %g (nats; +- standard error + numerical error bound)\n",
              r.n_inputs, r.samples_per_input, r.beta);
  if (r.resample_inputs == InputResample::Bootstrap) {
    std::vector<char> drawn(r.n_inputs, 0);
    std::size_t distinct = 0;
    for (std::size_t row : r.resampled_rows) distinct += drawn[row] ? 0 : (drawn[row] = 1);
    std::printf("bootstrap resample of the inputs (seed %llu): %zu distinct rows, H(X) = %.4f (ln m = %.4f)\n",
                static_cast<unsigned long long>(o.seed), distinct, r.input_entropy_nats,
                std::log(static_cast<double>(r.n_inputs)));
  }
  if (o.clip_at_zero) std::printf("every I clipped at 0\n");
  std::printf("layer width     h(T)     h(T|X)      I(X;T)%s\n",
              with_labels ? "             I(Y;T)" : "");
  for (const LayerInformation& l : r.layers) {
    std::printf("%5zu %5zu %9.4f %10.4f %9.4f +- %.4f", l.layer, l.width, l.h_T_nats,
                l.h_T_given_X_nats, l.I_XT_nats, l.I_XT_stderr_nats + l.numerical_error_nats);
    if (with_labels) std::printf("  %9.4f +- %.4f", l.I_YT_nats, l.I_YT_stderr_nats + l.numerical_error_nats);
    std::printf("\n");
  }
  if (o.bias_correction) {
    std::printf("plug-in bias (K, K/2, K/4 extrapolated to 1/K -> 0; +- Monte Carlo standard error)\n");
    std::printf("layer   I(X;T) bias          debiased%s\n", with_labels ? "       I(Y;T) bias          debiased" : "");
    for (const LayerInformation& l : r.layers) {
      std::printf("%5zu %9.4f +- %.4f %9.4f +- %.4f", l.layer, l.I_XT_bias_nats, l.I_XT_bias_stderr_nats,
                  l.I_XT_debiased_nats, l.I_XT_debiased_stderr_nats);
      if (with_labels) {
        std::printf(" %9.4f +- %.4f %9.4f +- %.4f", l.I_YT_bias_nats, l.I_YT_bias_stderr_nats, l.I_YT_debiased_nats,
                    l.I_YT_debiased_stderr_nats);
      }
      std::printf("\n");
    }
  }
  if (o.bounds) {
    std::printf("pairwise bounds (Kolchinsky-Tracey) of the plug-in terms\n");
    std::printf("layer   I(X;T) lower     upper%s\n", with_labels ? "   I(Y;T) lower     upper" : "");
    for (const LayerInformation& l : r.layers) {
      std::printf("%5zu %14.4f %9.4f", l.layer, l.I_XT_lower_nats, l.I_XT_upper_nats);
      if (with_labels) std::printf(" %14.4f %9.4f", l.I_YT_lower_nats, l.I_YT_upper_nats);
      std::printf("\n");
    }
  }
  std::printf("backend %s, %.2f s", std::string(backend_name(r.backend)).c_str(), r.seconds);
  if (session().size() > 1) std::printf(", %d MPI ranks", session().size());
  std::printf("\n");
}

int run_mi(const MiArgs& a) {
  const MutualInformationOptions o = options_from(a);
  const Network net = load_network(a.model, a.activation);
  const io::Matrix x = io::read_matrix(a.inputs);
  std::vector<std::int64_t> labels;
  if (!a.labels.empty()) labels = io::read_npy_integers(a.labels);
  MutualInformationOptions opt = o;
  if (!a.input_weights.empty()) opt.input_weights = io::read_matrix(a.input_weights).values;
  // Under mpirun every rank has read and checked its inputs; from here on they compute as one.
  session().checkpoint();
  session().configure(opt.compute);
  const MutualInformationResult r = mutual_information(net, x.view(), {labels.data(), labels.size()}, opt);
  if (!session().is_root()) return 0;
  for (const LayerInformation& l : r.layers) {
    if (!l.target_stderr_met) {
      std::fprintf(stderr, "infoflow: warning: layer %zu: --target-stderr %g not reached: the queries stopped at the cap "
                   "of 2^24 per term (I(X;T) standard error %.3g); the JSON says target_stderr_met: false\n",
                   l.layer, a.target_stderr, l.I_XT_stderr_nats);
    }
  }
  if (a.json) {
    std::printf("%s\n", to_json(r, !labels.empty(), opt).dump().c_str());
  } else {
    print_text(r, !labels.empty(), opt);
  }
  return 0;
}

}  // namespace

Command add_mi_command(CLI::App& app) {
  auto a = std::make_shared<MiArgs>();
  CLI::App* sub = app.add_subcommand(
      "mi", "I(X;T_l) and I(Y;T_l) of every noisy layer by sample propagation (Goldfeld et al.)");
  sub->add_option("--model", a->model, "network: safetensors with layers.{i}.weight / .bias")->required();
  sub->add_option("--inputs", a->inputs, "inputs X: .npy or .csv, one row per input")->required();
  sub->add_option("--labels", a->labels, "integer labels Y (.npy, one per input): adds I(Y;T)");
  sub->add_option("--input-weights", a->input_weights,
                  "probability of each input (.npy or .csv, summing to 1); default uniform");
  add_real_option(sub, "--beta", a->beta, 0, std::numeric_limits<double>::max(), true,
                  "noise standard deviation of every noisy layer (> 0)")
      ->required();
  add_count_option(sub, "--samples-per-input", a->samples_per_input, 1, kMaxCount, "K noisy passes per input (>= 1)");
  auto* j = add_count_option(sub, "--mc-samples-per-center", a->mc_samples_per_center, 1, kMaxCount,
                             "J Monte Carlo draws per centre (>= 1; the authors' scheme)")->default_str("");
  auto* q = add_count_option(sub, "--mc-queries", a->mc_queries, 1, kMaxCount,
                             "Q Monte Carlo queries per unconditional entropy (>= 1; default 8192)")->default_str("");
  auto* e = add_real_option(sub, "--target-stderr", a->target_stderr, 0, std::numeric_limits<double>::max(), true,
                            "double the queries until every term's standard error is below E (> 0)")->default_str("");
  j->excludes(q)->excludes(e);
  q->excludes(e);
  sub->add_option("--layers", a->layers, "all, or 1-based layers: 1,3")->capture_default_str();
  sub->add_option("--activation", a->activation, "activation of every layer, overriding the file");
  sub->add_flag("--noisy-last-layer", a->noisy_last, "the last layer carries noise too");
  sub->add_flag("--no-control-variate", a->no_control_variate, "the plain Monte Carlo estimator for every term");
  add_estimator_flags(sub, a->estimator);
  add_seed_option(sub, a->seed, "Philox seed");
  sub->add_option("--backend", a->backend, "auto | cpu | cuda | reference")->capture_default_str();
  add_threads_option(sub, a->threads);
  add_tolerance_option(sub, a->tolerance);
  sub->add_flag("--json", a->json,
                "print one JSON object instead of text (the text's +- is the standard error plus numerical_error_nats)");
  return {sub, [a] { return run_mi(*a); }};
}

}  // namespace infoflow::cli
