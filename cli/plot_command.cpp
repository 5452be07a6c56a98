// `infoflow plot DIR`: the figures of a `train` run, drawn by matplotlib through
// python/infoflow/plot_run.py (a plotting library, not hand-drawn charts). The script is
// looked up next to the installed binary, then in the source tree it was built from.
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
  std::string dir, format = "png";
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

int run_plot(const PlotArgs& a) {
  if (!fs::is_regular_file(fs::path(a.dir) / "metrics.csv")) {
    throw InvalidArgument(a.dir + ": no metrics.csv (not the --out directory of a completed `infoflow train` run)");
  }
  // Debian's interpreter has python3-matplotlib (scripts/install-deps.sh); INFOFLOW_PYTHON overrides.
  const char* env = std::getenv("INFOFLOW_PYTHON");
  const std::string python = env ? env : "/usr/bin/python3";
  const std::string script = find_script().string();
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) throw ResourceError("cannot start " + python);
  if (pid == 0) {
    execl(python.c_str(), python.c_str(), script.c_str(), a.dir.c_str(), "--format", a.format.c_str(),
          static_cast<char*>(nullptr));
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
                                             "over epochs, clustering, loss (matplotlib)");
  sub->add_option("dir", a->dir, "the --out directory of `infoflow train`")->required();
  sub->add_option("--format", a->format, "png, svg, pdf, or a comma-separated list")->capture_default_str();
  return {sub, [a] { return run_plot(*a); }};
}

}  // namespace infoflow::cli
