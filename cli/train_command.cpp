// `infoflow train`: trains a noisy fully connected network and, at chosen epochs, measures
// every noisy layer with the library's measure_checkpoint (infoflow/information_plane.hpp:
// the SP estimates and the binning and clustering baselines), with loss and accuracy.
// Writes DIR/metrics.csv, history.csv, run.json and checkpoints, through a staging
// directory that replaces DIR only when the run completes (cli/run_dir.hpp).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/progress.hpp"
#include "cli/run_dir.hpp"
#include "infoflow/information_plane.hpp"
#include "infoflow/train.hpp"
#include "infoflow/io.hpp"

#include "git_commit.hpp"  // generated at build time: INFOFLOW_GIT_COMMIT

namespace infoflow::cli {
namespace {

namespace fs = std::filesystem;

// The schedule and history hold one entry per epoch at most; past this a typo, not a run.
constexpr std::uint64_t kMaxEpochs = 1000000000;
// Each checkpoint is two files and an estimate: past this a typo, not a schedule.
constexpr std::uint64_t kMaxCheckpoints = 1000000;

struct TrainArgs {
  std::string preset, inputs, labels, layers, activation = "tanh", optimizer = "adam", track = "log:100";
  std::string out, backend = "auto";
  double beta = 0.005, lr = 4e-4, momentum = 0, orthonormal_alpha = 1e-4, test_fraction = 0.2;
  double bin_size = 0, cluster_radius = 2, target_stderr = 0;
  std::uint64_t epochs = 10000, batch_size = 256, track_every = 0, samples_per_input = 100;
  std::uint64_t mc_queries = 0, mc_samples_per_center = 0;
  std::uint64_t seed = 0;
  int threads = 0;
  bool orthonormal = false, force = false, no_estimate = false, shuffle_labels = false, no_control_variate = false, test_fraction_given = false;
  bool momentum_given = false, orthonormal_alpha_given = false;
  EstimatorFlags estimator;
  std::vector<std::string> argv;
};

volatile std::sig_atomic_t g_interrupted = 0;
std::atomic<std::int64_t> g_first_signal_ns{0};
static_assert(std::atomic<std::int64_t>::is_always_lock_free, "used in a signal handler");

std::int64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);  // async-signal-safe
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// The first Ctrl-C (or SIGTERM) stops at the end of the epoch and cleans up; a second one
// exits at once, leaving the staging directory for the next run into D to remove. One
// signal often arrives twice within microseconds (`timeout` signals the process and its
// group; a terminal signals the group a shell script runs in): a repeat within 100 ms is
// that same signal, not a second press.
extern "C" void on_interrupt(int sig) {
  if (g_interrupted) {
    if (monotonic_ns() - g_first_signal_ns.load() < 100000000) return;
    static const char msg[] = "\ninfoflow: interrupted again; stopped at once (the previous run in --out is untouched)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(128 + sig);
  }
  g_first_signal_ns.store(monotonic_ns());
  g_interrupted = sig;
}

void handle_interrupts(bool on) {
  struct sigaction sa {};
  sa.sa_handler = on ? on_interrupt : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);  // the terminal closed: as SIGTERM
}

// Beyond this a weight or a loss is a blow-up, not a trained network: products of such
// weights overflow float64 a few layers on.
constexpr double kBlowUp = 1e100;

bool sane_network(const Network& net) {
  for (const DenseLayer& l : net.layers) {
    for (double w : l.weight) if (!(std::abs(w) <= kBlowUp)) return false;
    for (double b : l.bias) if (!(std::abs(b) <= kBlowUp)) return false;
  }
  return true;
}

// The data: the built-in SZT task with its official split, or files with a seeded split.
struct Data {
  Dataset all, train, test;
  std::vector<bool> is_test;
  std::string source;
};

Data load_data(const TrainArgs& a) {
  Data d;
  if (a.preset == "szt") {
    d.all = szt_dataset();
    d.is_test = szt_test_mask();
    d.source = "built-in SZT 12-bit task, official 3277/819 split (docs/method.md#the-szt-task)";
  } else {
    const io::Matrix x = io::read_matrix(a.inputs);
    d.all.inputs = x.values, d.all.rows = x.rows, d.all.cols = x.cols;
    d.all.labels = io::read_npy_integers(a.labels);
    if (d.all.labels.size() != d.all.rows) {
      throw InvalidArgument(a.labels + ": " + std::to_string(d.all.labels.size()) + " labels for " +
                            std::to_string(d.all.rows) + " inputs in " + a.inputs);
    }
    for (std::size_t i = 0; i < d.all.rows; ++i) {
      if (d.all.labels[i] < 0) {
        throw InvalidArgument(a.labels + ": label " + std::to_string(d.all.labels[i]) + " at row " +
                              std::to_string(i) + " is negative (expected classes 0..C-1)");
      }
    }
    d.is_test = random_test_mask(d.all.rows, a.test_fraction, a.seed);
    const auto n_test = static_cast<std::size_t>(std::count(d.is_test.begin(), d.is_test.end(), true));
    d.source = a.inputs + " / " + a.labels + ", random " + std::to_string(n_test) + "/" +
               std::to_string(d.all.rows) + " test split (seed " + std::to_string(a.seed) + ")";
  }
  if (a.shuffle_labels) {
    d.all.labels = shuffled_labels(std::move(d.all.labels), a.seed);
    d.source += "; labels shuffled (random-label control, seed " + std::to_string(a.seed) + ")";
  }
  d.train = select_rows(d.all, d.is_test, false);
  d.test = select_rows(d.all, d.is_test, true);
  if (d.train.rows == 0) {
    std::ostringstream f;
    f.precision(17);
    f << a.test_fraction;
    throw InvalidArgument("the training split is empty: --test-fraction " + f.str() + " of " + std::to_string(d.all.rows) +
                          " rows leaves none for training");
  }
  return d;
}

std::vector<std::size_t> widths_for(const TrainArgs& a, const Data& d) {
  std::int64_t max_label = 0;
  for (std::int64_t y : d.all.labels) max_label = std::max(max_label, y);
  std::vector<std::size_t> w;
  if (!a.layers.empty()) {
    w = parse_positive_list(a.layers, "--layers (widths from input to output, e.g. 12,10,7,5,4,3,2)");
  } else {
    w = {d.all.cols, 10, 7, 5, 4, 3, static_cast<std::size_t>(std::max<std::int64_t>(2, max_label + 1))};
  }
  if (w.size() < 3) {
    throw InvalidArgument("--layers needs the input width, at least one hidden (noisy) layer to measure, and the output width");
  }
  if (w.front() != d.all.cols) {
    throw InvalidArgument("--layers starts with width " + std::to_string(w.front()) + " but the inputs have " +
                          std::to_string(d.all.cols) + " columns");
  }
  if (static_cast<std::int64_t>(w.back()) <= max_label) {
    throw InvalidArgument("--layers ends with " + std::to_string(w.back()) + " outputs but the labels go up to " +
                          std::to_string(max_label));
  }
  // Sizes come from the data (the largest label) and from --layers: check what they cost
  // before allocating. Per weight: the value, its gradient and two Adam moments; per
  // input and unit: the forward and backward passes and the representations tracked.
  const std::string what =
      a.layers.empty() ? "the network for labels up to " + std::to_string(max_label) + " (" + std::to_string(w.back()) +
                             " output classes, from the largest label)"
                       : "the network of --layers " + a.layers;
  require_training_memory(w, d.all.rows, what);
  return w;
}

std::vector<std::size_t> schedule_for(const TrainArgs& a) {
  const auto E = static_cast<std::size_t>(a.epochs);
  std::vector<std::size_t> s;
  if (a.track_every > 0 && E / a.track_every > kMaxCheckpoints) {
    throw InvalidArgument("--track-every " + std::to_string(a.track_every) + " with --epochs " + std::to_string(E) + " is " +
                          std::to_string(E / a.track_every) + " checkpoints, more than " + std::to_string(kMaxCheckpoints));
  }
  if (a.track_every > 0) {
    for (std::size_t e = static_cast<std::size_t>(a.track_every); e <= E; e += static_cast<std::size_t>(a.track_every)) s.push_back(e);
  } else {
    const std::string& t = a.track;
    std::size_t used = 0;
    long long k = 0;
    try {
      if (t.rfind("log:", 0) != 0) throw std::invalid_argument(t);
      k = std::stoll(t.substr(4), &used);
      if (used != t.size() - 4 || k < 1 || t[4] == '+' || t[4] == ' ') throw std::invalid_argument(t);
    } catch (const std::exception&) {
      throw InvalidArgument("--track '" + t + "': expected log:K with K >= 1 (K log-spaced epochs), or use --track-every N");
    }
    if (static_cast<std::uint64_t>(k) > kMaxCheckpoints) {
      throw InvalidArgument("--track '" + t + "': at most " + std::to_string(kMaxCheckpoints) + " checkpoints");
    }
    s = log_spaced_epochs(E, static_cast<std::size_t>(k));
  }
  if (s.empty() || s.back() != E) s.push_back(E);  // the final network is always measured
  return s;
}

void validate(const TrainArgs& a) {
  if (a.preset.empty() == (a.inputs.empty() || a.labels.empty())) {
    throw InvalidArgument(a.preset.empty() ? "give --preset szt, or both --inputs and --labels"
                                           : "--preset cannot be combined with --inputs/--labels");
  }
  if (!a.preset.empty() && a.preset != "szt") throw InvalidArgument("unknown --preset '" + a.preset + "' (known: szt)");
  check_threads_option(a.threads);
  if (!(std::isfinite(a.beta) && a.beta > 0)) throw InvalidArgument("--beta must be a finite number > 0, got " + std::to_string(a.beta));
  if (!(a.test_fraction >= 0 && a.test_fraction < 1)) throw InvalidArgument("--test-fraction must be in [0, 1)");
  if (!(std::isfinite(a.bin_size) && a.bin_size >= 0)) throw InvalidArgument("--bin-size must be a finite number > 0");
  if (!a.preset.empty() && a.test_fraction_given) {
    throw InvalidArgument("--test-fraction applies to --inputs/--labels; --preset szt uses the official split");
  }
  // An option that would change nothing is a mistake worth saying, not a setting to ignore.
  if (a.momentum_given && a.optimizer != "sgd") {
    throw InvalidArgument("--momentum applies to --optimizer sgd (Adam has its own moments)");
  }
  if (a.orthonormal_alpha_given && !a.orthonormal) {
    throw InvalidArgument("--orthonormal-alpha applies with --orthonormal");
  }
  if (!(std::isfinite(a.cluster_radius) && a.cluster_radius > 0)) throw InvalidArgument("--cluster-radius must be a finite number > 0");
  if (!(std::isfinite(a.lr) && a.lr > 0)) throw InvalidArgument("--lr must be a finite number > 0, got " + std::to_string(a.lr));
  parse_optimizer(a.optimizer);
  parse_activation(a.activation);
  parse_backend(a.backend);
  parse_input_resample(a.estimator.resample_inputs);
  // Checked before training, not at the first checkpoint: the same rule as mi's.
  if (a.estimator.bias_correction && a.samples_per_input < 4) {
    throw InvalidArgument("--bias-correction re-estimates from K/2 and K/4 passes per input, so it needs "
                          "--samples-per-input >= 4");
  }
  if (a.no_estimate && a.estimator.any()) {
    throw InvalidArgument("--no-estimate skips the estimates that --resample-inputs, --clip-at-zero, "
                          "--bias-correction and --bounds apply to");
  }
}

std::ofstream open_out(const fs::path& p) {
  std::ofstream f(p);
  if (!f) throw IoError(p.string() + ": cannot open for writing");
  return f;
}

std::string checkpoint_name(std::size_t epoch) {
  const std::string e = std::to_string(epoch);
  return "epoch_" + std::string(5 - std::min<std::size_t>(5, e.size()), '0') + e + ".safetensors";
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string hostname() {
  char buf[256] = {};
  return gethostname(buf, sizeof buf - 1) == 0 ? buf : "unknown";
}

std::string fmt_time(double s) {
  char buf[32];
  if (s < 90) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 5400) std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
  else std::snprintf(buf, sizeof buf, "%.0fh%02.0fm", std::floor(s / 3600), std::floor(std::fmod(s, 3600) / 60));
  return buf;
}

struct Timer {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

int run_train(const TrainArgs& a) {
  validate(a);
  const Data data = load_data(a);
  const std::vector<std::size_t> widths = widths_for(a, data);
  const std::vector<std::size_t> schedule = schedule_for(a);
  const std::set<std::size_t> tracked(schedule.begin(), schedule.end());
  RunTransaction tx(a.out, a.force);
  const fs::path dir = tx.staging();
  handle_interrupts(true);
  for (const char* sub : {"checkpoints", "representations"}) {
    std::error_code ec;
    fs::create_directory(dir / sub, ec);
    if (ec) throw IoError((dir / sub).string() + ": cannot create (" + ec.message() + ")");
  }

  TrainOptions train_opt;
  train_opt.beta = a.beta, train_opt.optimizer = parse_optimizer(a.optimizer), train_opt.learning_rate = a.lr;
  train_opt.momentum = a.momentum, train_opt.batch_size = static_cast<std::size_t>(a.batch_size), train_opt.seed = a.seed;
  train_opt.orthonormal_alpha = a.orthonormal ? a.orthonormal_alpha : 0.0;
  Trainer trainer(init_network(widths, parse_activation(a.activation), a.seed), data.train, train_opt);

  CheckpointOptions plane;
  MutualInformationOptions& mi_opt = plane.estimation;
  mi_opt.beta = a.beta, mi_opt.samples_per_input = static_cast<std::size_t>(a.samples_per_input), mi_opt.seed = a.seed;
  mi_opt.mc_queries = static_cast<std::size_t>(a.mc_queries);
  mi_opt.mc_samples_per_center = static_cast<std::size_t>(a.mc_samples_per_center);
  mi_opt.target_stderr = a.target_stderr;
  mi_opt.control_variate = !a.no_control_variate;
  mi_opt.compute.backend = parse_backend(a.backend), mi_opt.compute.threads = a.threads;
  a.estimator.apply(mi_opt);
  plane.estimate = !a.no_estimate;
  plane.bin_size = a.bin_size > 0 ? a.bin_size : 10 * a.beta;
  plane.cluster_radius = a.cluster_radius;
  const Backend backend = resolve_backend(mi_opt.compute.backend);
  if (!a.no_estimate) note_fallback(mi_opt.compute.backend, backend);
  const std::size_t noisy_layers = widths.size() - 2;

  // Inputs and labels of the estimation (every input, train and test, as the authors do),
  // so `infoflow mi --model DIR/checkpoints/...` can repeat any tracked estimate.
  io::write_npy((dir / "inputs.npy").string(), data.all.view());
  std::vector<double> labels_f(data.all.labels.begin(), data.all.labels.end()), mask_f(data.all.rows);
  for (std::size_t i = 0; i < mask_f.size(); ++i) mask_f[i] = data.is_test[i] ? 1.0 : 0.0;
  io::write_npy((dir / "labels.npy").string(), {labels_f.data(), labels_f.size(), 1});
  io::write_npy((dir / "test_mask.npy").string(), {mask_f.data(), mask_f.size(), 1});

  // Plain names: the whole staging directory is what becomes visible, and only when done.
  std::ofstream metrics = open_out(dir / "metrics.csv"), history = open_out(dir / "history.csv");
  metrics << "epoch,layer,width,I_XT_nats,I_XT_stderr_nats,I_YT_nats,I_YT_stderr_nats,h_T_nats,h_T_given_X_nats,"
             "numerical_error_nats,I_XT_bias_nats,I_XT_debiased_nats,I_YT_bias_nats,I_YT_debiased_nats,"
             "I_XT_lower_nats,I_XT_upper_nats,I_YT_lower_nats,I_YT_upper_nats,"
             "H_bin_nats,I_XT_bin_nats,I_YT_bin_nats,H_cluster_nats,clusters,class_distance_ratio,train_loss,test_loss,train_acc,test_acc\n";
  history << "epoch,noisy_batch_loss,train_loss,test_loss,train_acc,test_acc\n";
  metrics.precision(9), history.precision(9);

  ProgressLine progress("train");
  const bool tty = isatty(STDERR_FILENO) == 1;
  Timer total;
  double train_s = 0, track_s = 0;
  std::size_t tracks_done = 0;
  Evaluation last_train, last_test, good_train, good_test;
  // A network whose loss or weights stopped being finite is no result: training stops and
  // the run keeps the last network that was, as a checkpoint.
  Network last_good = trainer.network();
  std::size_t last_good_epoch = 0;
  std::string diverged;
  const auto E = static_cast<std::size_t>(a.epochs);
  const MatrixView<double> all = data.all.view();
  const Span<const std::int64_t> all_labels{data.all.labels.data(), data.all.labels.size()};
  for (std::size_t epoch = 1; epoch <= E && !g_interrupted; ++epoch) {
    Timer t;
    const double noisy_loss = trainer.train_epoch();
    const Network& net = trainer.network();
    last_train = evaluate(net, data.train.view(), {data.train.labels.data(), data.train.rows});
    last_test = evaluate(net, data.test.view(), {data.test.labels.data(), data.test.rows});
    if (!(std::abs(noisy_loss) <= kBlowUp) || !(std::abs(last_train.loss) <= kBlowUp) || !sane_network(net)) {
      char why[200];
      std::snprintf(why, sizeof why, "training diverged at epoch %zu (noisy batch loss %g, train loss %g%s)", epoch,
                    noisy_loss, last_train.loss, sane_network(net) ? "" : ", weights non-finite or above 1e100");
      diverged = why;
      break;
    }
    last_good = net, last_good_epoch = epoch, good_train = last_train, good_test = last_test;
    history << epoch << ',' << noisy_loss << ',' << last_train.loss << ',' << last_test.loss << ','
            << last_train.accuracy << ',' << last_test.accuracy << '\n';
    train_s += t.seconds();
    if (tracked.count(epoch)) {
      Timer tt;
      const std::string name = checkpoint_name(epoch);
      save_network((dir / "checkpoints" / name).string(), net, "F64");
      const CheckpointMeasures measured = measure_checkpoint(net, all, all_labels, plane);
      // The last noisy layer's noise-free representation, for the scatter plots (docs/method.md#infoflow-train).
      const std::size_t last = noisy_layers;
      const std::vector<float> rep(measured.representations[last - 1].begin(), measured.representations[last - 1].end());  // float32: for the eye only
      io::write_npy((dir / "representations" / (name.substr(0, name.find('.')) + "_layer" + std::to_string(last) + ".npy")).string(),
                    rep.data(), data.all.rows, widths[last]);
      std::string line;
      for (const LayerMeasures& m : measured.layers) {
        const LayerInformation& info = m.information;
        metrics << epoch << ',' << info.layer << ',' << info.width << ',' << info.I_XT_nats << ',' << info.I_XT_stderr_nats << ','
                << info.I_YT_nats << ',' << info.I_YT_stderr_nats << ',' << info.h_T_nats << ','
                << info.h_T_given_X_nats << ',' << info.numerical_error_nats << ',' << info.I_XT_bias_nats << ','
                << info.I_XT_debiased_nats << ',' << info.I_YT_bias_nats << ',' << info.I_YT_debiased_nats << ','
                << info.I_XT_lower_nats << ',' << info.I_XT_upper_nats << ',' << info.I_YT_lower_nats << ','
                << info.I_YT_upper_nats << ',' << m.H_bin_nats << ',' << m.I_XT_bin_nats << ',' << m.I_YT_bin_nats << ','
                << m.H_cluster_nats << ',' << m.clusters << ',' << m.class_distance_ratio << ','
                << last_train.loss << ',' << last_test.loss << ',' << last_train.accuracy << ','
                << last_test.accuracy << '\n';
        char buf[48];
        std::snprintf(buf, sizeof buf, " %.2f", info.I_XT_nats);
        line += buf;
      }
      metrics.flush(), history.flush();
      track_s += tt.seconds(), ++tracks_done;
      if (!tty) {
        std::fprintf(stderr, "epoch %zu/%zu: train acc %.3f, test acc %.3f, loss %.4f; I(X;T_l) =%s nats (%s)\n", epoch, E,
                     last_train.accuracy, last_test.accuracy, last_train.loss, a.no_estimate ? " (not estimated)" : line.c_str(),
                     fmt_time(total.seconds()).c_str());
      }
    }
    // ETA from the measured cost of an epoch and of a checkpoint, not from epochs alone:
    // estimation dominates the first epochs and the tail differently.
    const double epoch_cost = train_s / epoch, track_cost = tracks_done ? track_s / tracks_done : 0;
    const double left = (E - epoch) * epoch_cost + (schedule.size() - tracks_done) * track_cost;
    char detail[128];
    std::snprintf(detail, sizeof detail, "epoch %zu/%zu  loss %.4f  train %.1f%%  test %.1f%%", epoch, E, last_train.loss,
                  100 * last_train.accuracy, 100 * last_test.accuracy);
    progress.update(total.seconds() / (total.seconds() + left), detail);
  }
  progress.finish();
  handle_interrupts(false);
  if (g_interrupted) {
    // The staging directory goes with tx; --out keeps what it held before.
    std::fprintf(stderr, "infoflow: interrupted after epoch %zu; nothing was written to %s (it is as before the run)\n",
                 trainer.epochs_done(), a.out.c_str());
    return 128 + g_interrupted;
  }
  if (!diverged.empty() && !tracked.count(last_good_epoch)) {  // epoch 0: the initial network
    save_network((dir / "checkpoints" / checkpoint_name(last_good_epoch)).string(), last_good, "F64");
  }
  metrics.close(), history.close();
  if (!metrics || !history) throw IoError(tx.staging().string() + ": writing metrics.csv or history.csv failed");
  const std::size_t final_epoch = diverged.empty() ? E : last_good_epoch;
  if (!diverged.empty()) last_train = good_train, last_test = good_test;

  nlohmann::json run = {
      {"infoflow_version", std::string(version())},
      {"commit", INFOFLOW_GIT_COMMIT},
      {"command", a.argv},
      {"machine", {{"hostname", hostname()}, {"cpu", cpu_model()}, {"cores", std::thread::hardware_concurrency()}}},
      {"backend", std::string(backend_name(backend))},
      {"backend_note", backend == Backend::Cuda ? "" : cuda_unavailable_reason()},
      {"training_device", "cpu"},
      {"data", {{"source", data.source}, {"labels_shuffled", a.shuffle_labels}, {"inputs", data.all.rows}, {"train", data.train.rows}, {"test", data.test.rows}}},
      {"network", {{"widths", widths}, {"activation", a.activation}, {"output", "affine logits, no noise"}}},
      {"training", {{"epochs", E}, {"optimizer", a.optimizer}, {"lr", a.lr}, {"momentum", a.momentum},
                    {"batch_size", a.batch_size}, {"beta", a.beta}, {"orthonormal_alpha", train_opt.orthonormal_alpha},
                    {"seed", a.seed}, {"init", "PyTorch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))"}}},
      {"estimation", {{"estimated", !a.no_estimate}, {"tracked_epochs", schedule}, {"samples_per_input", a.samples_per_input},
                      {"mc_queries", a.mc_queries > 0 ? a.mc_queries : (a.mc_samples_per_center > 0 ? 0 : 8192)},
                      {"mc_samples_per_center", a.mc_samples_per_center}, {"target_stderr", a.target_stderr},
                      {"seed", a.seed}, {"inputs", "all (train and test), uniform"},
                      {"control_variate", !a.no_control_variate},
                      {"resample_inputs", a.estimator.resample_inputs}, {"clip_at_zero", a.estimator.clip_at_zero},
                      {"bias_correction", a.estimator.bias_correction}, {"bounds", a.estimator.bounds},
                      {"bin_size", plane.bin_size}, {"cluster_radius", plane.cluster_radius * a.beta},
                      {"bins_over_observed_range", plane.num_bins},
                      {"cluster_measure", "entropy of single-linkage clusters of the noise-free S_l at distance < cluster_radius"},
                      {"class_distance_ratio", "mean same-class / mean different-class distance of the noise-free S_l"}}},
      {"final", {{"epoch", final_epoch}, {"train_loss", number_or_null(last_train.loss)}, {"test_loss", number_or_null(last_test.loss)},
                 {"train_acc", number_or_null(last_train.accuracy)}, {"test_acc", number_or_null(last_test.accuracy)}}},
      {"stopped", diverged.empty() ? nlohmann::json(nullptr) : nlohmann::json(diverged)},
      {"seconds", {{"training", train_s}, {"tracking", track_s}, {"total", total.seconds()}}},
  };
  {
    std::ofstream f = open_out(dir / "run.json");
    f << run.dump(2) << '\n';
    if (!f) throw IoError((dir / "run.json").string() + ": write failed");
  }
  tx.commit();
  if (!diverged.empty()) {
    std::fprintf(stderr, "infoflow: error: %s; training stopped. %s holds the run up to epoch %zu, with that network in checkpoints/%s%s\n",
                 diverged.c_str(), a.out.c_str(), last_good_epoch, checkpoint_name(last_good_epoch).c_str(),
                 last_good_epoch == 0 ? " (the initial network: the first epoch diverged; lower --lr)" : "");
    return 1;
  }
  std::printf("trained %zu epochs in %s (+ %s measuring %zu checkpoint%s): train acc %.4f, test acc %.4f\n", E,
              fmt_time(train_s).c_str(), fmt_time(track_s).c_str(), schedule.size(), schedule.size() == 1 ? "" : "s",
              last_train.accuracy, last_test.accuracy);
  std::printf("wrote %s/{metrics.csv,history.csv,run.json,checkpoints/}; plot with: infoflow plot %s\n", a.out.c_str(),
              a.out.c_str());
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app, int argc, char** argv) {
  auto a = std::make_shared<TrainArgs>();
  a->argv.assign(argv, argv + argc);
  CLI::App* sub = app.add_subcommand(
      "train", "Train a noisy network and track I(X;T_l), I(Y;T_l), binning and clustering over epochs");
  sub->add_option("--preset", a->preset, "szt: the 12-bit task, 12-10-7-5-4-3-2, the authors' settings");
  sub->add_option("--inputs", a->inputs, "custom data: inputs X (.npy or .csv), one row per input");
  sub->add_option("--labels", a->labels, "custom data: integer labels 0..C-1 (.npy)");
  constexpr double kMax = std::numeric_limits<double>::max();
  auto* tf = add_real_option(sub, "--test-fraction", a->test_fraction, 0, 1, false,
                             "custom data: fraction held out for testing, in [0, 1)", true);
  sub->add_option("--layers", a->layers, "widths from input to output (default d,10,7,5,4,3,C)");
  sub->add_option("--activation", a->activation, "hidden activation: tanh | relu | linear | leaky-relu | sigmoid")
      ->capture_default_str();
  add_real_option(sub, "--beta", a->beta, 0, kMax, true,
                  "noise standard deviation, training and estimation, > 0 (paper: 0.005 tanh, 0.01 linear)");
  add_count_option(sub, "--epochs", a->epochs, 1, kMaxEpochs, "training epochs, 1 to " + std::to_string(kMaxEpochs));
  sub->add_option("--optimizer", a->optimizer, "adam | sgd")->capture_default_str();
  add_real_option(sub, "--lr", a->lr, 0, kMax, true, "learning rate (> 0)");
  auto* momentum = add_real_option(sub, "--momentum", a->momentum, 0, 1, false, "SGD momentum, in [0, 1)", true);
  add_count_option(sub, "--batch-size", a->batch_size, 1, kMaxCount, "mini-batch size (>= 1)");
  sub->add_flag("--orthonormal", a->orthonormal, "orthonormality retraction W <- W - alpha (W W^T W - W) after each step");
  auto* alpha = add_real_option(sub, "--orthonormal-alpha", a->orthonormal_alpha, 0, kMax, true, "alpha of --orthonormal (> 0)");
  add_seed_option(sub, a->seed, "seeds initialisation, shuffling, noise and estimation");
  auto* track = sub->add_option("--track", a->track, "measured epochs: log:K = K log-spaced epochs (the last always)")
                    ->capture_default_str();
  add_count_option(sub, "--track-every", a->track_every, 1, kMaxEpochs, "measure every N epochs instead (>= 1)")->excludes(track)->default_str("");
  add_count_option(sub, "--samples-per-input", a->samples_per_input, 1, kMaxCount, "K noisy passes per input for I(X;T) (>= 1)");
  auto* q = add_count_option(sub, "--mc-queries", a->mc_queries, 1, kMaxCount,
                             "Monte Carlo queries per unconditional entropy (>= 1; default 8192)")->default_str("");
  auto* j = add_count_option(sub, "--mc-samples-per-center", a->mc_samples_per_center, 1, kMaxCount,
                             "J draws per centre instead (>= 1)")->default_str("");
  auto* e = add_real_option(sub, "--target-stderr", a->target_stderr, 0, kMax, true,
                            "double the queries until each term's error is below E (> 0)")->default_str("");
  j->excludes(q)->excludes(e);
  q->excludes(e);
  add_real_option(sub, "--bin-size", a->bin_size, 0, kMax, true, "bin width of H(Bin(T)), > 0 (default 10 beta, as the paper's Fig. 5)")
      ->default_str("10 beta");
  add_real_option(sub, "--cluster-radius", a->cluster_radius, 0, kMax, true, "cluster linkage distance in units of beta (> 0)");
  sub->add_flag("--no-control-variate", a->no_control_variate, "the plain Monte Carlo estimator");
  add_estimator_flags(sub, a->estimator);
  sub->add_flag("--shuffle-labels", a->shuffle_labels,
                "random-label control: train on the labels in a seeded random permutation (the labels written and measured are those)");
  sub->add_flag("--no-estimate", a->no_estimate, "skip I(X;T)/I(Y;T) (binning, clustering and checkpoints only)");
  sub->add_option("--backend", a->backend, "estimation backend: auto | cpu | cuda | reference")->capture_default_str();
  add_threads_option(sub, a->threads);
  sub->add_option("--out", a->out, "output directory")->required();
  sub->add_flag("--force", a->force,
                "replace an earlier infoflow run in --out (refused if it holds files infoflow did not write)");
  return {sub, [a, tf, momentum, alpha] {
            a->test_fraction_given = tf->count() > 0;
            a->momentum_given = momentum->count() > 0;
            a->orthonormal_alpha_given = alpha->count() > 0;
            return run_train(*a);
          }};
}

}  // namespace infoflow::cli
