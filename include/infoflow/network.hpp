// Noisy feed-forward networks and the sample-propagation (SP) estimator of the mutual
// information I(X; T_l) and I(Y; T_l) of every noisy layer (Goldfeld et al. 2019,
// docs/method.md#sample-propagation). A hidden layer computes
// T_l = a_l(W_l T_{l-1} + b_l) + beta Z_l with fresh standard normal Z_l; by default the
// last layer is affine logits without noise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow {

enum class Activation { Tanh, Relu, LeakyRelu, Sigmoid, Linear };
// "tanh", "relu", "leaky-relu" (or "leaky_relu"), "sigmoid", "linear" (or "identity").
Activation parse_activation(std::string_view name);  // throws InvalidArgument
std::string_view activation_name(Activation a);
double activate(Activation a, double x);  // leaky-relu slope 0.01, PyTorch's default

struct DenseLayer {
  std::size_t in = 0, out = 0;
  std::vector<double> weight;  // out x in, row-major (PyTorch's nn.Linear convention)
  std::vector<double> bias;    // out
  Activation activation = Activation::Tanh;
};

struct Network {
  std::vector<DenseLayer> layers;
  std::size_t input_dim() const { return layers.empty() ? 0 : layers.front().in; }
};

// Reads layers.{i}.weight / layers.{i}.bias from a safetensors file; the activations come
// from `activation_override` (all layers) or the header's __metadata__ "activations".
Network load_network(const std::string& path, std::string_view activation_override = {});
void save_network(const std::string& path, const Network& net, const std::string& dtype = "F32");

// The noisy forward passes of sample propagation (docs/method.md#sample-propagation): K
// passes per input, row r = x K + k. Returns S_l = a_l(W_l T_{l-1} + b_l) for every layer
// l = 1..L (index l - 1), each (m K) x d_l row-major, where T_l = S_l + beta Z_l on noisy
// layers (every hidden layer; the last too when noisy_last_layer). Z_l comes from a Philox
// stream of (seed, layer, row): the same noise on every backend and thread count, and the
// same passes mutual_information measures with that seed. compute.backend cuda (or auto
// with a usable GPU) runs the GEMMs on the GPU; compute.threads sizes the CPU team.
std::vector<std::vector<double>> noisy_passes(const Network& net, MatrixView<double> inputs,
                                              std::size_t samples_per_input, double beta,
                                              bool noisy_last_layer, std::uint64_t seed,
                                              const ComputeOptions& compute = {});

// Makes OpenBLAS, if it is the BLAS linked in, run single-threaded in the caller's thread
// and stops its thread pool, unless OPENBLAS_NUM_THREADS is set (the user's choice
// stands): its spinning pool otherwise shares the cores with infoflow's OpenMP team. A
// no-op with any other BLAS. Process-wide, so only programs that own every BLAS call in
// the process call it (the CLI, the benchmarks), never a library or Python module on its
// own (a user's numpy may share the same OpenBLAS). Returns whether it changed anything.
bool single_threaded_blas();

// Which inputs the estimator sees. None: every row once, X uniform over the rows (or
// input_weights). Bootstrap: m rows drawn uniformly with replacement (Philox stream
// InputResample under `seed`), each drawn entry an input of its own with its own K noisy
// passes, as the authors' code does: the estimate is then of I(X^;T) for the resampled X^,
// whose ceiling is H(X^) < ln m (docs/method.md#bootstrap-resample).
enum class InputResample { None, Bootstrap };
InputResample parse_input_resample(std::string_view name);  // "none", "bootstrap"; throws InvalidArgument
std::string_view input_resample_name(InputResample r);

struct MutualInformationOptions {
  double beta = 0;                  // noise standard deviation, > 0
  std::size_t samples_per_input = 100;  // K noisy passes per input: the conditional centres
  // Monte Carlo queries for each unconditional (and class-conditional) entropy: drawn from
  // the mixture (a random centre plus noise). 0 with mc_samples_per_center = 0 = default.
  std::size_t mc_queries = 0;
  std::size_t mc_samples_per_center = 0;  // instead: J draws per centre (the authors' way)
  double target_stderr = 0;  // > 0: double the queries until every term's error is below it
  bool noisy_last_layer = false;  // the authors' nets: logits carry no noise
  std::vector<std::size_t> layers;  // 1-based layers to report; empty = every noisy layer
  std::uint64_t seed = 0;
  // Probability of each input row (summing to 1); empty: X uniform over the rows.
  std::vector<double> input_weights;
  bool control_variate = true;  // as EntropyOptions::control_variate, for every term
  InputResample resample_inputs = InputResample::None;  // not with input_weights
  // Every reported I value (I_XT, I_YT, their debiased values and bounds) becomes
  // max(0, I), as the authors' code does; the h terms and the bias are left as they are.
  bool clip_at_zero = false;
  // Also estimate the plug-in bias by re-estimating every term from K/2 and K/4 of each
  // input's passes and extrapolating in 1/K (docs/method.md#bias-extrapolation); needs
  // K >= 4. About 3x the cost of the estimate.
  bool bias_correction = false;
  // Also bound every I by the Kolchinsky-Tracey pairwise bounds of its mixture terms
  // (docs/method.md#bounds-on-the-information): n^2 kernel evaluations per mixture of n
  // centres, (m K)^2 for h(T_l), l >= 2.
  bool bounds = false;
  ComputeOptions compute;
};

struct LayerInformation {
  std::size_t layer = 0, width = 0;  // 1-based, as the CLI prints it
  double h_T_nats = 0, h_T_stderr_nats = 0;
  double h_T_given_X_nats = 0, h_T_given_X_stderr_nats = 0;
  double I_XT_nats = 0, I_XT_stderr_nats = 0;
  double I_YT_nats = EntropyResult::kNaN, I_YT_stderr_nats = EntropyResult::kNaN;
  std::size_t mc_queries = 0;  // queries spent on h(T_l)
  // With target_stderr: false when a term stopped at the query cap (2^24) above the
  // target, so its standard error is larger than asked for.
  bool target_stderr_met = true;
  // A bound on how far float32 rounding and pruning can move any I value of this layer
  // (I_XT, I_YT and, with bias_correction, their debiased values) from what float64 with
  // every pair would give from the same draws (docs/method.md#numerical-error). The
  // standard errors do not include it; 0 on the reference backend.
  double numerical_error_nats = 0;
  // With bias_correction (docs/method.md#bias-extrapolation): bias = I - debiased, the
  // estimated plug-in bias of I, and the debiased value, each with its Monte Carlo
  // standard error (not the sampling error of the passes). 0 bias at layer 1 (exact).
  double I_XT_bias_nats = EntropyResult::kNaN, I_XT_bias_stderr_nats = EntropyResult::kNaN;
  double I_XT_debiased_nats = EntropyResult::kNaN, I_XT_debiased_stderr_nats = EntropyResult::kNaN;
  double I_YT_bias_nats = EntropyResult::kNaN, I_YT_bias_stderr_nats = EntropyResult::kNaN;
  double I_YT_debiased_nats = EntropyResult::kNaN, I_YT_debiased_stderr_nats = EntropyResult::kNaN;
  // With bounds (docs/method.md#bounds-on-the-information): lower <= I <= upper for the
  // plug-in mixtures, widened by their own float32 and pruning error. At layer 1 the
  // plug-in is exact, so they bound the true I(X;T_1) and I(Y;T_1).
  double I_XT_lower_nats = EntropyResult::kNaN, I_XT_upper_nats = EntropyResult::kNaN;
  double I_YT_lower_nats = EntropyResult::kNaN, I_YT_upper_nats = EntropyResult::kNaN;
};

struct MutualInformationResult {
  std::vector<LayerInformation> layers;
  std::size_t n_inputs = 0, samples_per_input = 0;
  double beta = 0;
  Backend backend = Backend::Cpu;
  double seconds = 0;
  InputResample resample_inputs = InputResample::None;
  // Bootstrap: the input row each of the m entries was drawn from (empty otherwise).
  std::vector<std::size_t> resampled_rows;
  // H(X) of the inputs the estimator saw, the ceiling of every I(X;T_l): ln m for X
  // uniform, H(w) with input weights, -sum_x (c_x/m) ln(c_x/m) over the bootstrap counts.
  double input_entropy_nats = 0;
};

// inputs: m x d_0, one row per input x (X uniform over the rows). labels: empty, or m
// integer class labels (then I(Y; T_l) too).
MutualInformationResult mutual_information(const Network& net, MatrixView<double> inputs,
                                           Span<const std::int64_t> labels,
                                           const MutualInformationOptions& opt);

// The same estimator on samples the caller propagated (e.g. forward hooks of a PyTorch
// model): samples is (m K) x d, row x K + k the k-th noisy-pass sample S of input x, the
// representation before its noise beta Z. h(T) from all m K rows, h(T|X) from each
// input's K rows (never the layer-1 shortcut: the caller's S may depend on earlier noise),
// I(Y;T) with labels. opt.layers and opt.noisy_last_layer are ignored; opt.seed,
// opt.beta, the Monte Carlo budget, input weights, compute options, clip_at_zero,
// bias_correction and bounds apply. resample_inputs must be None: a duplicated input
// needs noisy passes of its own, which only mutual_information can make.
LayerInformation sample_information(MatrixView<double> samples, std::size_t samples_per_input,
                                    Span<const std::int64_t> labels, const MutualInformationOptions& opt);

}  // namespace infoflow
