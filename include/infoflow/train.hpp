// Training noisy fully connected networks (docs/method.md#the-noisy-network,
// #the-szt-task). What `train` measures at each checkpoint is a library call of its own:
// measure_checkpoint (infoflow/information_plane.hpp).
//
// Training follows the authors' code: noise beta Z_l after every hidden activation in
// every training forward pass (fresh Philox draws per step), softmax cross-entropy on
// noise-free affine logits averaged over the batch, loss and accuracy evaluated without
// noise. Training runs on the CPU (the SZT networks are far too small for a GPU to help);
// the estimation of each checkpoint uses the backend asked for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "infoflow/information_plane.hpp"
#include "infoflow/network.hpp"

namespace infoflow {

// A labelled dataset held in memory: rows x cols inputs (row-major), one label per row.
struct Dataset {
  std::vector<double> inputs;
  std::size_t rows = 0, cols = 0;
  std::vector<std::int64_t> labels;
  MatrixView<double> view() const { return {inputs.data(), rows, cols}; }
};

// The 12-bit task of Shwartz-Ziv & Tishby: row i is the binary expansion of i (MSB first),
// labels as in the authors' data (2118 ones). Built in, so `--preset szt` needs no files.
Dataset szt_dataset();
// The official 819-pattern test split of Goldfeld et al.'s code (docs/method.md#the-szt-task).
std::vector<bool> szt_test_mask();

// A seeded random split of `rows` inputs: true for the round(test_fraction rows) test rows,
// the first entries of a Philox permutation (the same split on every machine for a seed).
std::vector<bool> random_test_mask(std::size_t rows, double test_fraction, std::uint64_t seed);

// The random-label control (train --shuffle-labels): the labels in a seeded random
// permutation (Philox, a stream of its own), so each class keeps its size but no longer
// depends on the input; a network can then only memorise, and I(Y;T) on held-out rows has
// nothing to find.
std::vector<std::int64_t> shuffled_labels(std::vector<std::int64_t> labels, std::uint64_t seed);

// Throws ResourceError naming `what` when training a network of these widths (input to
// output) on `rows` inputs cannot fit in the available memory; checked before allocating.
// Per weight: the value, its gradient and two Adam moments; per input and unit: the
// forward and backward passes and the representations tracked.
void require_training_memory(const std::vector<std::size_t>& widths, std::size_t rows, const std::string& what);

// Rows of `data` where mask[i] == want.
Dataset select_rows(const Dataset& data, const std::vector<bool>& mask, bool want);

// widths = {d_0, d_1, ..., d_L}; hidden layers get `hidden`, the last layer is affine
// (Linear). PyTorch's nn.Linear default: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Network init_network(const std::vector<std::size_t>& widths, Activation hidden, std::uint64_t seed);

enum class Optimizer { Adam, Sgd };
Optimizer parse_optimizer(std::string_view name);  // "adam" | "sgd"; throws InvalidArgument
std::string_view optimizer_name(Optimizer o);

struct TrainOptions {
  double beta = 0.005;  // noise standard deviation in training passes; 0 = deterministic
  Optimizer optimizer = Optimizer::Adam;
  double learning_rate = 4e-4;
  double momentum = 0;  // SGD only
  std::size_t batch_size = 256;
  // > 0: after every step, W <- W - alpha (W W^T W - W) for every hidden layer (docs/method.md#the-szt-task).
  double orthonormal_alpha = 0;
  bool noisy_last_layer = false;
  std::uint64_t seed = 0;  // shuffling and training noise (the initialisation has its own)
};

struct Evaluation {
  double loss = 0, accuracy = 0;  // mean cross-entropy (nats) and fraction correct
};

// Noise-free loss and accuracy of the network's logits on (inputs, labels).
Evaluation evaluate(const Network& net, MatrixView<double> inputs, Span<const std::int64_t> labels);

struct Gradients {
  std::vector<std::vector<double>> weight, bias;  // per layer, shaped like the network's
};

// Mean softmax cross-entropy of one noisy forward pass of the batch, with the noise of row
// i drawn from Philox row noise_row + i (so a fixed noise_row makes the loss a smooth
// function of the weights: what the gradient check differentiates). Fills *grad if given.
double batch_loss(const Network& net, MatrixView<double> inputs, Span<const std::int64_t> labels,
                  double beta, bool noisy_last_layer, std::uint64_t seed, std::uint64_t noise_row,
                  Gradients* grad);

// Mini-batch training of a network on a dataset (copied), one epoch per call.
class Trainer {
 public:
  Trainer(Network net, const Dataset& train, const TrainOptions& opt);
  // One shuffled pass over the training set; returns the mean noisy batch loss.
  double train_epoch();
  const Network& network() const { return net_; }
  std::size_t epochs_done() const { return epoch_; }

 private:
  void step(const Gradients& g);
  Network net_;
  Dataset train_;
  TrainOptions opt_;
  std::size_t epoch_ = 0, steps_ = 0;
  std::uint64_t noise_rows_ = 0;
  Gradients m_, v_;  // Adam moments, or SGD velocity in m_
};

// Log-spaced epochs: unique(round(logspace(0, log10(last), points))), as the authors'
// checkpoints (points = 100, last = 9999 gives 84 epochs).
std::vector<std::size_t> log_spaced_epochs(std::size_t last, std::size_t points);

}  // namespace infoflow
