// Backpropagation through noisy fully connected networks, Adam/SGD, and the orthonormal
// retraction. Matrices are small (SZT: batch 256, widths <= 12) but custom networks may
// not be, so the products go through BLAS.
#include "infoflow/train.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "checked.hpp"
#include "host_memory.hpp"
#include "nn/forward.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow {
namespace {

// Per layer: the layer's input a_{l-1}, pre-activation z_l and activation s_l, B rows each.
struct Activations {
  std::vector<std::vector<double>> in, z, s;
};

double derivative(Activation a, double z, double s) {
  switch (a) {
    case Activation::Tanh: return 1 - s * s;
    case Activation::Relu: return z > 0 ? 1.0 : 0.0;
    case Activation::LeakyRelu: return z > 0 ? 1.0 : 0.01;
    case Activation::Sigmoid: return s * (1 - s);
    case Activation::Linear: return 1;
  }
  return 1;
}

// One forward pass of B rows; noise beta Z on hidden layers (and the last if noisy_last)
// from Philox rows noise_row + i. beta = 0: the deterministic network.
Activations forward(const Network& net, MatrixView<double> x, double beta, bool noisy_last,
                    std::uint64_t seed, std::uint64_t noise_row) {
  const std::size_t B = x.rows, L = net.layers.size();
  Activations act;
  act.in.resize(L), act.z.resize(L), act.s.resize(L);
  act.in[0].assign(x.data, x.data + B * x.cols);
  std::vector<double> noise, zero_bias;
  for (std::size_t l = 0; l < L; ++l) {
    const DenseLayer& layer = net.layers[l];
    std::vector<double>& z = act.z[l];
    z.resize(B * layer.out);
    for (std::size_t i = 0; i < B; ++i) std::copy(layer.bias.begin(), layer.bias.end(), z.begin() + i * layer.out);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(B), static_cast<int>(layer.out),
                static_cast<int>(layer.in), 1.0, act.in[l].data(), static_cast<int>(layer.in),
                layer.weight.data(), static_cast<int>(layer.in), 1.0, z.data(), static_cast<int>(layer.out));
    std::vector<double>& s = act.s[l];
    s = z;
    zero_bias.assign(layer.out, 0.0);  // the bias is in z already
    detail::activate_rows(layer.activation, zero_bias.data(), layer.out, s.data(), B);
    if (l + 1 == L) break;
    std::vector<double> t = s;
    if (beta > 0) {
      noise.resize(B * layer.out);
      rng::normal_rows(seed, rng::training_noise(l + 1), noise_row, B, layer.out, noise.data());
      for (std::size_t k = 0; k < B * layer.out; ++k) t[k] += beta * noise[k];
    }
    act.in[l + 1] = std::move(t);
  }
  if (noisy_last && beta > 0) {
    std::vector<double>& s = act.s[L - 1];
    const std::size_t d = net.layers.back().out;
    noise.resize(B * d);
    rng::normal_rows(seed, rng::training_noise(L), noise_row, B, d, noise.data());
    for (std::size_t k = 0; k < B * d; ++k) s[k] += beta * noise[k];
  }
  return act;
}

void check_labels(const Network& net, MatrixView<double> x, Span<const std::int64_t> y) {
  if (net.layers.empty()) throw InvalidArgument("the network has no layers");
  if (x.cols != net.input_dim()) {
    throw InvalidArgument("inputs have " + std::to_string(x.cols) + " columns but the first layer expects " +
                          std::to_string(net.input_dim()));
  }
  if (y.size != x.rows) {
    throw InvalidArgument("labels have " + std::to_string(y.size) + " entries for " + std::to_string(x.rows) +
                          " inputs");
  }
  const std::size_t classes = net.layers.back().out;
  for (std::size_t i = 0; i < y.size; ++i) {
    if (y[i] < 0 || static_cast<std::size_t>(y[i]) >= classes) {
      throw InvalidArgument("label " + std::to_string(y[i]) + " of input " + std::to_string(i) +
                            " is outside 0.." + std::to_string(classes - 1) + " (the network has " +
                            std::to_string(classes) + " outputs)");
    }
  }
}

// Mean cross-entropy of the logits; *dlogits (if given) = (softmax - onehot) / B.
double cross_entropy(const std::vector<double>& logits, std::size_t classes, Span<const std::int64_t> y,
                     std::vector<double>* dlogits, std::size_t* correct = nullptr) {
  const std::size_t B = y.size;
  double loss = 0;
  if (dlogits) dlogits->resize(logits.size());
  for (std::size_t i = 0; i < B; ++i) {
    const double* o = logits.data() + i * classes;
    const std::size_t best = static_cast<std::size_t>(std::max_element(o, o + classes) - o);
    double sum = 0;
    for (std::size_t k = 0; k < classes; ++k) sum += std::exp(o[k] - o[best]);
    const double lse = o[best] + std::log(sum);
    loss += lse - o[y[i]];
    if (correct && best == static_cast<std::size_t>(y[i])) ++*correct;
    if (dlogits) {
      for (std::size_t k = 0; k < classes; ++k) {
        (*dlogits)[i * classes + k] = (std::exp(o[k] - lse) - (k == static_cast<std::size_t>(y[i]))) / B;
      }
    }
  }
  return loss / B;
}

Gradients zeros_like(const Network& net) {
  Gradients g;
  for (const DenseLayer& l : net.layers) {
    g.weight.emplace_back(l.weight.size(), 0.0);
    g.bias.emplace_back(l.bias.size(), 0.0);
  }
  return g;
}

// docs/method.md#the-szt-task: W <- W - alpha (W W^T W - W), pulling W towards orthonormal rows.
void orthonormal_retraction(DenseLayer& l, double alpha) {
  const int out = static_cast<int>(l.out), in = static_cast<int>(l.in);
  std::vector<double> gram(l.out * l.out), gw(l.weight.size());
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, out, out, in, 1.0, l.weight.data(), in,
              l.weight.data(), in, 0.0, gram.data(), out);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, out, 1.0, gram.data(), out,
              l.weight.data(), in, 0.0, gw.data(), in);
  for (std::size_t k = 0; k < gw.size(); ++k) l.weight[k] -= alpha * (gw[k] - l.weight[k]);
}

std::vector<bool> bits_from_hex(const char* hex, std::size_t n) {
  std::vector<bool> bits(n);
  for (std::size_t i = 0; i < n; ++i) {
    const char c = hex[i / 4];
    const int v = c <= '9' ? c - '0' : c - 'a' + 10;
    bits[i] = (v >> (3 - i % 4)) & 1;
  }
  return bits;
}

// Bit i = label of pattern i (from data/szt/szt_labels.npy; a test checks they agree).
constexpr const char* kSztLabels =
    "0000000000000003000000030001173f000000010001051f0000011705175f7f0000000300000017000001330013177f000000030007073f0000013f15177f7f"
    "000000030000010f000000170007177f0001000f050f0f7f0007073f175f7fff0003003f0007033f0013033f003f3fff001f073f077f0fff003f073f5f7f7fff"
    "0000000000000007000000130101177f000000070505175f00001517555f7f7f000000130000003f001311331113777f0017003f155f5f7f1517153f555f7f7f"
    "000000070007050f0000003f05075f7f051f077f5f5f5fff155f5f7f5f5fffff013f037f057f0fff117f33ff557f7fff5fff7fff7fffffff7fff7fffffffffff"
    "0000000100000117000111371117777f000000030105171f0111173757577fff000100330013133f1133337f17777fff001300331517173f1133777f77777fff"
    "000000030000013f0013133f15177f7f0007000f050f5f7f1517173f5f5f7fff0037133f003f133f137f33ff777f7fff177f17ff5f7f5fff777f77ff7f7f7fff"
    "00000013000015171111177755777f7f0115151755555f5f555577777f7fffff1137137f1577777f777777ff7777ffff577f777f7f7f7f7f77ff77ffffffffff"
    "0017003f1517153f1577777f55777f7f577f5f7f5fff5fff7f7f7f7fffffffff77ff7fff7fff7fff7fffffffffffffffffffffffffffffffffffffffffffffff";

// Bit i = 1: pattern i is in the official test set (docs/method.md#the-szt-task, 819 patterns).
constexpr const char* kSztTestMask =
    "30d22602010883095e74085dc4e019124500c0840080090080620c2025040408a502052005052650857403000000805040000400040052410000c008841025ed"
    "040501ae003080184c20804028144421223003404c00020421002404021804038014013001468c000452ac005000092201040a21acc00008120220008610c044"
    "40119000c00806404088060111002040388460200c42d300844000120083011164841402d8b028315422061200420f304120542040a001800420042018503009"
    "110800831001008217010300848204300104280a080001a020820000812561030c00294301004054012022180848020048004840c0081030002928420c018ac0"
    "0284002820c0025084186a94420000ba0160020014034191491020528000441401120200412b680042008448020200000510015002001004420084562208001e"
    "2002000130e4220460c0594410004000448012304008001400110808c802012adc00002501b11804041000c001ca446864020380420080220203802200c1a010"
    "861007080a4000900680918200080080000184424054008321002016801000021a75418012408280b00801022000008000341433704104588440020441018828"
    "008100800400082008920100148d408209590080000000e40002008800191b00500010800d1282120250220180428e046001200800209440082170000f400a01";

}  // namespace

Dataset szt_dataset() {
  Dataset d;
  d.rows = 4096, d.cols = 12;
  d.inputs.resize(d.rows * d.cols);
  const std::vector<bool> y = bits_from_hex(kSztLabels, d.rows);
  for (std::size_t i = 0; i < d.rows; ++i) {
    for (std::size_t b = 0; b < 12; ++b) d.inputs[i * 12 + b] = static_cast<double>((i >> (11 - b)) & 1);
    d.labels.push_back(y[i] ? 1 : 0);
  }
  return d;
}

std::vector<bool> szt_test_mask() { return bits_from_hex(kSztTestMask, 4096); }

std::vector<bool> random_test_mask(std::size_t rows, double test_fraction, std::uint64_t seed) {
  if (!(test_fraction >= 0 && test_fraction < 1)) {
    throw InvalidArgument("test fraction must be in [0, 1)");
  }
  // A Fisher-Yates permutation from Philox: the same split on every machine for a seed.
  std::vector<std::size_t> order(rows);
  for (std::size_t i = 0; i < rows; ++i) order[i] = i;
  for (std::size_t i = rows; i-- > 1;) {
    std::swap(order[i], order[rng::uniform_index(seed, rng::Stream::TrainingShuffle, ~std::uint64_t{0} - i, i + 1)]);
  }
  std::vector<bool> is_test(rows, false);
  const auto n_test = static_cast<std::size_t>(std::llround(test_fraction * static_cast<double>(rows)));
  for (std::size_t i = 0; i < n_test; ++i) is_test[order[i]] = true;
  return is_test;
}

std::vector<std::int64_t> shuffled_labels(std::vector<std::int64_t> labels, std::uint64_t seed) {
  for (std::size_t i = labels.size(); i-- > 1;) {
    std::swap(labels[i], labels[rng::uniform_index(seed, rng::Stream::LabelShuffle, i, i + 1)]);
  }
  return labels;
}

void require_training_memory(const std::vector<std::size_t>& widths, std::size_t rows, const std::string& what) {
  std::size_t params = 0, units = 0;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    params = detail::checked_add(params, detail::checked_product({widths[i] + 1, widths[i + 1]}, what), what);
    units = detail::checked_add(units, widths[i + 1], what);
  }
  const std::size_t bytes = detail::checked_add(detail::checked_product({params, 4, sizeof(double)}, what),
                                                detail::checked_product({rows, units, 3, sizeof(double)}, what), what);
  detail::require_memory(static_cast<double>(bytes), what);
}

Dataset select_rows(const Dataset& data, const std::vector<bool>& mask, bool want) {
  if (mask.size() != data.rows) {
    throw InvalidArgument("split mask has " + std::to_string(mask.size()) + " entries for " +
                          std::to_string(data.rows) + " inputs");
  }
  Dataset out;
  out.cols = data.cols;
  for (std::size_t i = 0; i < data.rows; ++i) {
    if (mask[i] != want) continue;
    out.inputs.insert(out.inputs.end(), data.inputs.begin() + i * data.cols,
                      data.inputs.begin() + (i + 1) * data.cols);
    out.labels.push_back(data.labels[i]);
    ++out.rows;
  }
  return out;
}

Network init_network(const std::vector<std::size_t>& widths, Activation hidden, std::uint64_t seed) {
  if (widths.size() < 2) throw InvalidArgument("a network needs at least an input and an output width");
  for (std::size_t w : widths) {
    if (w == 0) throw InvalidArgument("layer widths must be >= 1");
  }
  Network net;
  std::uint64_t row = 0;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    DenseLayer layer;
    layer.in = widths[l], layer.out = widths[l + 1];
    layer.activation = l + 2 == widths.size() ? Activation::Linear : hidden;
    const double bound = 1 / std::sqrt(static_cast<double>(layer.in));
    for (std::size_t k = 0; k < layer.in * layer.out; ++k) {
      layer.weight.push_back(bound * (2 * rng::uniform_real(seed, rng::Stream::WeightInit, row++, 0) - 1));
    }
    for (std::size_t k = 0; k < layer.out; ++k) {
      layer.bias.push_back(bound * (2 * rng::uniform_real(seed, rng::Stream::WeightInit, row++, 0) - 1));
    }
    net.layers.push_back(std::move(layer));
  }
  return net;
}

Optimizer parse_optimizer(std::string_view name) {
  if (name == "adam") return Optimizer::Adam;
  if (name == "sgd") return Optimizer::Sgd;
  throw InvalidArgument("unknown optimizer '" + std::string(name) + "' (expected adam or sgd)");
}

std::string_view optimizer_name(Optimizer o) { return o == Optimizer::Adam ? "adam" : "sgd"; }

Evaluation evaluate(const Network& net, MatrixView<double> x, Span<const std::int64_t> y) {
  check_labels(net, x, y);
  if (x.rows == 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const Activations a = forward(net, x, 0, false, 0, 0);
  std::size_t correct = 0;
  Evaluation e;
  e.loss = cross_entropy(a.s.back(), net.layers.back().out, y, nullptr, &correct);
  e.accuracy = static_cast<double>(correct) / x.rows;
  return e;
}

double batch_loss(const Network& net, MatrixView<double> x, Span<const std::int64_t> y, double beta,
                  bool noisy_last, std::uint64_t seed, std::uint64_t noise_row, Gradients* grad) {
  check_labels(net, x, y);
  if (x.rows == 0) throw InvalidArgument("empty batch");
  const std::size_t B = x.rows, L = net.layers.size();
  const Activations a = forward(net, x, beta, noisy_last, seed, noise_row);
  std::vector<double> delta;  // dLoss/dT_l, then dLoss/dz_l
  const double loss = cross_entropy(a.s.back(), net.layers.back().out, y, grad ? &delta : nullptr);
  if (!grad) return loss;
  *grad = zeros_like(net);
  for (std::size_t l = L; l-- > 0;) {
    const DenseLayer& layer = net.layers[l];
    // T_l = S_l + noise: the noise is additive, so dT_l = dS_l.
    for (std::size_t k = 0; k < delta.size(); ++k) delta[k] *= derivative(layer.activation, a.z[l][k], a.s[l][k]);
    const int out = static_cast<int>(layer.out), in = static_cast<int>(layer.in);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, static_cast<int>(B), 1.0, delta.data(), out,
                a.in[l].data(), in, 0.0, grad->weight[l].data(), in);
    for (std::size_t i = 0; i < B; ++i) {
      for (std::size_t k = 0; k < layer.out; ++k) grad->bias[l][k] += delta[i * layer.out + k];
    }
    if (l == 0) break;
    std::vector<double> prev(B * layer.in);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(B), in, out, 1.0, delta.data(), out,
                layer.weight.data(), in, 0.0, prev.data(), in);
    delta.swap(prev);
  }
  return loss;
}

Trainer::Trainer(Network net, const Dataset& train, const TrainOptions& opt)
    : net_(std::move(net)), train_(train), opt_(opt) {
  check_labels(net_, train_.view(), {train_.labels.data(), train_.labels.size()});
  if (train_.rows == 0) throw InvalidArgument("the training set is empty");
  if (opt_.batch_size < 1) throw InvalidArgument("batch size must be >= 1");
  if (!(std::isfinite(opt_.beta) && opt_.beta >= 0)) {
    throw InvalidArgument("beta must be a finite number >= 0, got " + std::to_string(opt_.beta));
  }
  if (!(std::isfinite(opt_.learning_rate) && opt_.learning_rate > 0)) {
    throw InvalidArgument("learning rate must be a finite number > 0, got " + std::to_string(opt_.learning_rate));
  }
  if (!(opt_.momentum >= 0 && opt_.momentum < 1)) {
    throw InvalidArgument("momentum must be in [0, 1), got " + std::to_string(opt_.momentum));
  }
  if (!(std::isfinite(opt_.orthonormal_alpha) && opt_.orthonormal_alpha >= 0)) {
    throw InvalidArgument("orthonormal alpha must be a finite number >= 0, got " +
                          std::to_string(opt_.orthonormal_alpha));
  }
  m_ = zeros_like(net_), v_ = zeros_like(net_);
}

void Trainer::step(const Gradients& g) {
  ++steps_;
  // PyTorch's Adam defaults (betas 0.9, 0.999, eps 1e-8) and SGD with optional momentum.
  constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const double c1 = 1 - std::pow(b1, static_cast<double>(steps_)), c2 = 1 - std::pow(b2, static_cast<double>(steps_));
  const double lr = opt_.learning_rate;
  auto update = [&](std::vector<double>& p, const std::vector<double>& gr, std::vector<double>& m,
                    std::vector<double>& v) {
    for (std::size_t k = 0; k < p.size(); ++k) {
      if (opt_.optimizer == Optimizer::Adam) {
        m[k] = b1 * m[k] + (1 - b1) * gr[k];
        v[k] = b2 * v[k] + (1 - b2) * gr[k] * gr[k];
        p[k] -= lr * (m[k] / c1) / (std::sqrt(v[k] / c2) + eps);
      } else {
        m[k] = opt_.momentum * m[k] + gr[k];
        p[k] -= lr * m[k];
      }
    }
  };
  for (std::size_t l = 0; l < net_.layers.size(); ++l) {
    update(net_.layers[l].weight, g.weight[l], m_.weight[l], v_.weight[l]);
    update(net_.layers[l].bias, g.bias[l], m_.bias[l], v_.bias[l]);
  }
  if (opt_.orthonormal_alpha > 0) {
    for (std::size_t l = 0; l + 1 < net_.layers.size(); ++l) orthonormal_retraction(net_.layers[l], opt_.orthonormal_alpha);
  }
}

double Trainer::train_epoch() {
  const std::size_t n = train_.rows, d = train_.cols;
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  for (std::size_t i = n; i-- > 1;) {  // Fisher-Yates on Philox draws: the same on every platform
    const auto j = rng::uniform_index(opt_.seed, rng::Stream::TrainingShuffle, epoch_ * n + i, i + 1);
    std::swap(order[i], order[j]);
  }
  std::vector<double> xb;
  std::vector<std::int64_t> yb;
  Gradients g;
  double total = 0;
  std::size_t batches = 0;
  for (std::size_t start = 0; start < n; start += opt_.batch_size) {
    const std::size_t B = std::min(opt_.batch_size, n - start);
    xb.resize(B * d), yb.resize(B);
    for (std::size_t i = 0; i < B; ++i) {
      const std::size_t r = order[start + i];
      std::copy_n(train_.inputs.begin() + r * d, d, xb.begin() + i * d);
      yb[i] = train_.labels[r];
    }
    total += batch_loss(net_, {xb.data(), B, d}, {yb.data(), B}, opt_.beta, opt_.noisy_last_layer, opt_.seed,
                        noise_rows_, &g);
    noise_rows_ += B;
    step(g);
    ++batches;
  }
  ++epoch_;
  return total / batches;
}

std::vector<std::vector<double>> representations(const Network& net, MatrixView<double> x) {
  if (net.layers.empty()) throw InvalidArgument("the network has no layers");
  if (x.cols != net.input_dim()) {
    throw InvalidArgument("inputs have " + std::to_string(x.cols) + " columns but the first layer expects " +
                          std::to_string(net.input_dim()));
  }
  return forward(net, x, 0, false, 0, 0).s;
}

std::vector<std::size_t> log_spaced_epochs(std::size_t last, std::size_t points) {
  if (last < 1 || points < 1) throw InvalidArgument("log-spaced epochs need last >= 1 and points >= 1");
  std::vector<std::size_t> out;
  const double top = std::log10(static_cast<double>(last));
  for (std::size_t i = 0; i < points; ++i) {
    const double e = points == 1 ? top : top * i / (points - 1);
    // nearbyint rounds half to even, as numpy.round does.
    const auto v = static_cast<std::size_t>(std::nearbyint(std::pow(10.0, e)));
    if (out.empty() || out.back() != v) out.push_back(v);
  }
  return out;
}

}  // namespace infoflow
