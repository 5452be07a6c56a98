// measure_checkpoint: the SP estimates and the baselines of every noisy layer of one
// network state, in the order `train` writes them to metrics.csv.
#include <chrono>
#include <cmath>
#include <string>

#include "infoflow/information_plane.hpp"

namespace infoflow {

namespace {

void check_plane_options(const CheckpointOptions& opt) {
  if (!(std::isfinite(opt.bin_size) && opt.bin_size >= 0)) {
    throw InvalidArgument("bin size must be a finite number > 0 (or 0 for 10 beta)");
  }
  if (!(std::isfinite(opt.cluster_radius) && opt.cluster_radius > 0)) {
    throw InvalidArgument("cluster radius must be a finite number > 0 (in units of beta)");
  }
  if (opt.num_bins < 1) throw InvalidArgument("the number of bins must be >= 1");
  if (!(std::isfinite(opt.estimation.beta) && opt.estimation.beta > 0)) {
    throw InvalidArgument("beta must be a finite number > 0");
  }
}

LayerInformation not_estimated(std::size_t layer, std::size_t width) {
  const double nan = EntropyResult::kNaN;
  LayerInformation info;
  info.layer = layer, info.width = width;
  info.h_T_nats = info.h_T_stderr_nats = info.h_T_given_X_nats = info.h_T_given_X_stderr_nats = nan;
  info.I_XT_nats = info.I_XT_stderr_nats = info.I_YT_nats = info.I_YT_stderr_nats = nan;
  return info;
}

// The baselines of one layer from its noise-free representation.
void add_baselines(LayerMeasures& out, MatrixView<double> clean, Span<const std::int64_t> labels,
                   const CheckpointOptions& opt) {
  const double beta = opt.estimation.beta;
  out.H_bin_nats = binned_entropy(clean, opt.bin_size > 0 ? opt.bin_size : 10 * beta);
  const BinnedInformation bins = binned_information(clean, labels, opt.num_bins);
  out.I_XT_bin_nats = bins.I_XT_nats, out.I_YT_bin_nats = bins.I_YT_nats;
  const Clustering c = cluster_entropy(clean, opt.cluster_radius * beta);
  out.H_cluster_nats = c.entropy, out.clusters = c.clusters;
  if (!labels.empty()) out.class_distance_ratio = class_distance_ratio(clean, labels);
}

}  // namespace

CheckpointMeasures measure_checkpoint(const Network& net, MatrixView<double> inputs, Span<const std::int64_t> labels,
                                      const CheckpointOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  check_plane_options(opt);
  if (net.layers.empty()) throw InvalidArgument("the network has no layers");
  const std::size_t noisy = net.layers.size() - (opt.estimation.noisy_last_layer ? 0 : 1);
  if (noisy == 0) {
    throw InvalidArgument("the network has no noisy layer: its only layer is the output (affine logits without noise)");
  }
  CheckpointMeasures r;
  MutualInformationResult mi;
  if (opt.estimate) {
    MutualInformationOptions o = opt.estimation;
    o.layers.clear();  // every noisy layer, in order: layers[l - 1] below is layer l
    mi = mutual_information(net, inputs, labels, o);
    r.backend = mi.backend;
    r.resampled_rows = std::move(mi.resampled_rows);
    r.input_entropy_nats = mi.input_entropy_nats;
  } else {
    if (!labels.empty() && labels.size != inputs.rows) {
      throw InvalidArgument("labels have " + std::to_string(labels.size) + " entries for " +
                            std::to_string(inputs.rows) + " inputs");
    }
    r.backend = resolve_backend(opt.estimation.compute.backend);
  }
  r.representations = representations(net, inputs);
  for (std::size_t l = 1; l <= noisy; ++l) {
    const std::size_t width = net.layers[l - 1].out;
    LayerMeasures m;
    m.information = opt.estimate ? mi.layers[l - 1] : not_estimated(l, width);
    add_baselines(m, {r.representations[l - 1].data(), inputs.rows, width}, labels, opt);
    r.layers.push_back(m);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

LayerMeasures measure_layer(MatrixView<double> samples, std::size_t samples_per_input, MatrixView<double> clean,
                            Span<const std::int64_t> labels, const CheckpointOptions& opt) {
  check_plane_options(opt);
  if (samples_per_input < 1) throw InvalidArgument("samples per input must be >= 1");
  if (clean.cols != samples.cols || clean.rows * samples_per_input != samples.rows) {
    throw InvalidArgument("the noise-free representation is " + std::to_string(clean.rows) + " x " +
                          std::to_string(clean.cols) + " but the samples are " + std::to_string(samples.rows) + " x " +
                          std::to_string(samples.cols) + " with " + std::to_string(samples_per_input) +
                          " passes per input (expected one noise-free row per input, as wide as the samples)");
  }
  for (std::size_t k = 0; k < clean.rows * clean.cols; ++k) {
    if (!std::isfinite(clean.data[k])) {
      throw InvalidArgument("the noise-free representation has a non-finite value (" + std::to_string(clean.data[k]) +
                            ") at row " + std::to_string(k / clean.cols) + ", column " + std::to_string(k % clean.cols));
    }
  }
  LayerMeasures m;
  if (opt.estimate) {
    m.information = sample_information(samples, samples_per_input, labels, opt.estimation);
  } else {
    m.information = not_estimated(0, samples.cols);
  }
  add_baselines(m, clean, labels, opt);
  return m;
}

}  // namespace infoflow
