// `infoflow log-density`: log g(y) of the mixture at each query row, written to a .npy or
// .csv file; the quantity scikit-learn's KernelDensity.score_samples computes.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/progress.hpp"
#include "infoflow/infoflow.hpp"
#include "infoflow/io.hpp"

namespace infoflow::cli {
namespace {

struct LogDensityArgs {
  std::string queries, centers, output;
  double sigma = 0;
  std::string backend = "auto";
  int threads = 0;
  double tolerance = ComputeOptions{}.tolerance;
  bool json = false;
};

int run_log_density(const LogDensityArgs& a) {
  if (!(std::isfinite(a.sigma) && a.sigma > 0)) {
    throw InvalidArgument("--sigma must be a finite number > 0, got " + std::to_string(a.sigma));
  }
  check_threads_option(a.threads);
  check_tolerance_option(a.tolerance);
  io::check_output_path(a.output);  // before the work, not after it
  ProgressLine progress("log-density");
  const io::Matrix q = io::read_matrix(a.queries);
  const io::Matrix c = io::read_matrix(a.centers);
  if (q.cols != c.cols) {
    throw InvalidArgument(a.queries + " has " + std::to_string(q.cols) + " columns but " +
                          a.centers + " has " + std::to_string(c.cols));
  }
  ComputeOptions o;
  o.backend = parse_backend(a.backend);
  o.threads = a.threads;
  o.tolerance = a.tolerance;
  o.progress = [&progress](double f) { progress.update(f); };
  std::vector<double> out(q.rows);
  const auto t0 = std::chrono::steady_clock::now();
  const Backend ran = log_density(q.view(), c.view(), {}, a.sigma, {out.data(), out.size()}, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();
  io::write_output_file(a.output, io::encode_vector(a.output, out.data(), out.size()));
  double mean = 0;
  for (double v : out) mean += v / out.size();
  if (a.json) {
    nlohmann::json j = {{"output", a.output},   {"m", q.rows},        {"n", c.rows},
                        {"d", c.cols},          {"sigma", a.sigma},   {"tolerance", a.tolerance}, {"mean_log_density", mean},
                        {"backend", backend_name(ran)}, {"seconds", seconds}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("log-density of %zu queries under %zu centres (d = %zu, sigma = %g): mean %.6f\n"
                "  written to %s; backend %s, %.3f s\n",
                q.rows, c.rows, c.cols, a.sigma, mean, a.output.c_str(),
                std::string(backend_name(ran)).c_str(), seconds);
  }
  return 0;
}

}  // namespace

Command add_log_density_command(CLI::App& app) {
  auto args = std::make_shared<LogDensityArgs>();
  CLI::App* sub = app.add_subcommand(
      "log-density", "log g(y) of the mixture (1/n) sum_j N(c_j, sigma^2 I) at each query row");
  sub->add_option("--queries", args->queries, "query rows (.npy or .csv, m x d)")->required();
  sub->add_option("--centers", args->centers, "centres (.npy or .csv, n x d)")->required();
  add_real_option(sub, "--sigma", args->sigma, 0, std::numeric_limits<double>::max(), true,
                  "component standard deviation (> 0)")
      ->required();
  sub->add_option("--output", args->output,
                  "output file: .npy holds the m float64 values, shape (m,); .csv one value per line. An existing "
                  "file is replaced whole; a device or FIFO is written into")
      ->required();
  sub->add_option("--backend", args->backend, "auto | cpu | cuda | reference")->capture_default_str();
  add_threads_option(sub, args->threads);
  add_tolerance_option(sub, args->tolerance);
  sub->add_flag("--json", args->json, "print one JSON object instead of text");
  return {sub, [args] { return run_log_density(*args); }};
}

}  // namespace infoflow::cli
