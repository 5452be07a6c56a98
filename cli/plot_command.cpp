// `infoflow plot DIR`: the figures of a `train` run, drawn by matplotlib through
// python/infoflow/plot_run.py (a plotting library, not hand-drawn charts). The script is
// looked up next to the installed binary, then in the source tree it was built from.
// `infoflow plot RUN [RUN ...] --out DIR`: several runs (seeds) as a median and a band per
// curve, with the numbers in DIR/summary.csv; the aggregation is the script's too.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "infoflow/infoflow.hpp"

namespace infoflow::cli {
namespace {

namespace fs = std::filesystem;

struct PlotArgs {
  std::vector<std::string> runs;
  std::string out, format = "png", band = "auto";
  bool out_given = false, band_given = false;
};

fs::path find_script() {
  if (const char* env = std::getenv("INFOFLOW_PLOT_SCRIPT")) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share" / "infoflow" / "plot_run.py");
#ifdef INFOFLOW_SOURCE_DIR
  candidates.push_back(fs::path(INFOFLOW_SOURCE_DIR) / "python" / "infoflow" / "plot_run.py");
#endif
  for (const fs::path& p : candidates) {
    if (fs::is_regular_file(p)) return p;
  }
  throw ResourceError("cannot find plot_run.py (looked in " + candidates.front().string() +
                      (candidates.size() > 1 ? " and " + candidates.back().string() : "") +
                      "); set INFOFLOW_PLOT_SCRIPT to its path");
}

// The usage errors found before Python starts, so that they exit 2 like other bad options.
void check_plot_args(const PlotArgs& a) {
  for (const std::string& dir : a.runs) {
    if (!fs::is_regular_file(fs::path(dir) / "metrics.csv")) {
      throw InvalidArgument(dir + ": no metrics.csv (not the --out directory of a completed `infoflow train` run)");
    }
  }
  if (a.runs.size() > 1 && !a.out_given) {
    throw InvalidArgument(std::to_string(a.runs.size()) +
                          " runs need --out DIR, the folder for their aggregated figures and summary.csv");
  }
  if (a.band_given && !a.out_given) throw InvalidArgument("--band applies to several runs plotted with --out");
  if (a.band != "auto" && a.band != "min-max" && a.band != "quartiles") {
    throw InvalidArgument("--band: unknown band '" + a.band + "' (auto, min-max, quartiles)");
  }
  if (!a.out_given) return;
  if (a.out.empty()) throw InvalidArgument("--out: empty value");
  std::error_code ec;
  const fs::file_status st = fs::status(a.out, ec);
  if (fs::exists(st) && !fs::is_directory(st)) {
    throw InvalidArgument("--out " + a.out + ": exists and is not a directory (--out names the folder for the figures and summary.csv)");
  }
  const auto canonical = [](const std::string& p) {
    std::error_code e;
    const fs::path c = fs::weakly_canonical(p, e);
    return e ? fs::absolute(p).lexically_normal() : c;
  };
  for (std::size_t i = 0; i < a.runs.size(); ++i) {
    const fs::path run = canonical(a.runs[i]);
    // Figures in a run directory would make `train --force` refuse to replace that run.
    if (canonical(a.out) == run) {
      throw InvalidArgument("--out " + a.out + " is the run " + a.runs[i] + "; give a folder of its own");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (canonical(a.runs[j]) == run) {
        throw InvalidArgument(a.runs[i] + " is given twice (also as " + a.runs[j] + "); each run counts once in the median");
      }
    }
  }
}

int run_plot(const PlotArgs& a) {
  check_plot_args(a);
  // Debian's interpreter has python3-matplotlib (scripts/install-deps.sh); INFOFLOW_PYTHON overrides.
  const char* env = std::getenv("INFOFLOW_PYTHON");
  const std::string python = env ? env : "/usr/bin/python3";
  const std::string script = find_script().string();
  // "--x=value" and "--" keep a folder named like an option ("-a") a folder.
  std::vector<std::string> args = {python, script, "--format=" + a.format};
  if (a.out_given) args.insert(args.end(), {"--out=" + a.out, "--band=" + a.band});
  args.push_back("--");
  args.insert(args.end(), a.runs.begin(), a.runs.end());
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) throw ResourceError("cannot start " + python);
  if (pid == 0) {
    execv(python.c_str(), argv.data());
    std::fprintf(stderr, "infoflow: error: cannot run %s (set INFOFLOW_PYTHON to a Python with matplotlib)\n",
                 python.c_str());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return 1;
  return WEXITSTATUS(status);
}

}  // namespace

Command add_plot_command(CLI::App& app) {
  auto a = std::make_shared<PlotArgs>();
  CLI::App* sub = app.add_subcommand("plot", "Figures of a `train` run: information plane, I(X;T) and binning "
                                             "over epochs, clustering, loss (matplotlib); of several runs: "
                                             "median and band");
  sub->add_option("runs", a->runs,
                  "the --out directory of `infoflow train` (figures into DIR/figures/), or several with --out")
      ->required();
  CLI::Option* out = sub->add_option("--out", a->out,
                                     "folder for the figures of several runs (median and band) and summary.csv");
  CLI::Option* band = sub->add_option("--band", a->band,
                                      "the band around the median: auto (min-max below 8 runs, quartiles from 8), "
                                      "min-max, quartiles")
                          ->capture_default_str();
  sub->add_option("--format", a->format, "png, svg, pdf, or a comma-separated list")->capture_default_str();
  return {sub, [a, out, band] {
            a->out_given = out->count() > 0;
            a->band_given = band->count() > 0;
            return run_plot(*a);
          }};
}

}  // namespace infoflow::cli
