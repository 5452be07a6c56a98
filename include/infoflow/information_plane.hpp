// The information plane of one network state: everything `infoflow train` measures at a
// checkpoint, as one library call (measure_checkpoint), so that C++ programs, the CLI and
// the Python tracker (infoflow.torch.InformationTracker) get the same numbers from the
// same network, data and seed. Per noisy layer: the SP estimates of I(X;T_l) and I(Y;T_l)
// (docs/method.md#sample-propagation), the binned baselines (docs/method.md#binning-and-
// clustering), the clustering of the noise-free representations and the class distance
// ratio (docs/method.md#compression-as-clustering).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "infoflow/infoflow.hpp"
#include "infoflow/network.hpp"

namespace infoflow {

// The noise-free representations S_l = a_l(W_l S_{l-1} + b_l) of every layer, each
// rows x d_l row-major (what binning and clustering look at).
std::vector<std::vector<double>> representations(const Network& net, MatrixView<double> inputs);

// H(Bin(T)) = -sum_c (m_c/m) ln(m_c/m) over the cells of the grid of width bin_size that
// the rows occupy (bin edges at integer multiples of bin_size), X uniform over the rows.
double binned_entropy(MatrixView<double> s, double bin_size);

// The binned estimates as Shwartz-Ziv & Tishby's code computes them, with the bins over
// the observed range of the layer instead of a fixed [-1, 1] (which leaves a ReLU or a
// linear layer's values outside the grid): num_bins equal bins from the smallest to the
// largest value of any unit, every unit on the same edges. T = Bin(S) is a function of X,
// so I(X;Bin(T)) = H(Bin(T)); I(Y;Bin(T)) = H(Bin(T)) - sum_y p(y) H(Bin(T) | Y = y), X
// uniform over the rows. I_YT is NaN without labels.
struct BinnedInformation {
  double I_XT_nats = 0;
  double I_YT_nats = 0;
};
BinnedInformation binned_information(MatrixView<double> s, Span<const std::int64_t> labels, std::size_t num_bins);

// Single-linkage clusters of the rows: rows closer than `radius` (Euclidean) are joined.
// entropy = -sum_k (m_k/m) ln(m_k/m): the value I(X;T) falls to when clusters of the
// representation become indistinguishable under the noise.
struct Clustering {
  std::size_t clusters = 0;
  double entropy = 0;
};
Clustering cluster_entropy(MatrixView<double> s, double radius);

// Mean Euclidean distance between representations of inputs of the same class, divided
// by the mean distance between inputs of different classes: 1 when classes mix, towards
// 0 as each class gathers into its own cluster (the same-class clustering linked to
// compression). NaN with fewer than two classes or no same-class pair. The same bits for
// any thread count.
double class_distance_ratio(MatrixView<double> s, Span<const std::int64_t> labels);

struct CheckpointOptions {
  // The SP estimator's options (beta, samples per input, Monte Carlo budget, seed,
  // backend, ...). estimation.layers is ignored: every noisy layer is measured.
  MutualInformationOptions estimation;
  bool estimate = true;         // false: binning, clustering and distances only (train --no-estimate)
  double bin_size = 0;          // width of the H(Bin(T)) grid; 0 = 10 beta
  std::size_t num_bins = 30;    // bins of binned_information over each layer's observed range
  double cluster_radius = 2;    // single-linkage distance, in units of beta
};

// One noisy layer at one checkpoint: a row of `train`'s metrics.csv.
struct LayerMeasures {
  // The SP estimates; with estimate = false only layer and width are set, the rest NaN.
  LayerInformation information;
  double H_bin_nats = EntropyResult::kNaN;       // binned_entropy, grid of width bin_size
  double I_XT_bin_nats = EntropyResult::kNaN;    // binned_information over the observed range
  double I_YT_bin_nats = EntropyResult::kNaN;    // NaN without labels
  double H_cluster_nats = EntropyResult::kNaN;   // cluster_entropy
  std::size_t clusters = 0;
  double class_distance_ratio = EntropyResult::kNaN;  // NaN without labels
};

struct CheckpointMeasures {
  std::vector<LayerMeasures> layers;  // every noisy layer, first to last
  // The noise-free representations of every layer (representations()), rows x d_l.
  std::vector<std::vector<double>> representations;
  Backend backend = Backend::Cpu;  // the backend the estimates ran on
  // As MutualInformationResult: with estimation.resample_inputs = Bootstrap, the row each
  // entry was drawn from; H(X) of the inputs the estimator saw (the ceiling of I(X;T_l)).
  std::vector<std::size_t> resampled_rows;
  double input_entropy_nats = 0;
  double seconds = 0;
};

// Measures every noisy layer of `net` on `inputs` (X uniform over the rows, or
// estimation.input_weights) with labels (empty: no I(Y;T), no class distances). Throws
// InvalidArgument for bad shapes or options, as mutual_information does.
CheckpointMeasures measure_checkpoint(const Network& net, MatrixView<double> inputs, Span<const std::int64_t> labels,
                                      const CheckpointOptions& opt);

// The same measures of one layer whose passes were made elsewhere (PyTorch forward hooks):
// samples as for sample_information ((m K) x d, row x K + k), clean the noise-free
// representation (m x d, one row per input) that binning and clustering look at.
LayerMeasures measure_layer(MatrixView<double> samples, std::size_t samples_per_input, MatrixView<double> clean,
                            Span<const std::int64_t> labels, const CheckpointOptions& opt);

}  // namespace infoflow
