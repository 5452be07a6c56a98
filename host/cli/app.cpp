// The infoflow command line, as a function: main() calls it, and so does the CLI fuzzer
// (tests/fuzz/fuzz_cli.cpp). Every error ends as one line on stderr and a non-zero exit
// code (2: bad usage or input, 3: resources, 1: anything else); stdout carries only results.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.hpp"
#include "infoflow/infoflow.hpp"
#include "mpi/mpi_session.hpp"

namespace infoflow::cli {
namespace {

MpiSession* g_session = nullptr;

// An error before the ranks' checkpoint is agreed on (printed once, same exit code on
// every rank). After it, bad input found by the library (InvalidArgument) is symmetric:
// every estimator checks its inputs before its first collective call, and every rank has
// the same inputs, so each rank fails alike and rank 0 alone prints. Anything else after
// the checkpoint may be one rank's alone (memory, a device) and ends the whole job.
int fail(int code, const std::string& message, bool symmetric = false) {
  MpiSession& s = *g_session;
  if (s.active() && s.size() > 1 && s.past_checkpoint()) {
    if (!symmetric) s.abort(code, message);
    if (s.is_root()) std::fprintf(stderr, "infoflow: error: %s\n", message.c_str());
    return code;
  }
  return s.agree(code, message);
}

}  // namespace

MpiSession& session() { return *g_session; }

int run(int argc, char** argv) {
  MpiSession mpi(&argc, &argv);
  struct Current {  // session() is this run's, and only while it runs (the fuzzer calls run again)
    explicit Current(MpiSession* s) { g_session = s; }
    ~Current() { g_session = nullptr; }
  } current(&mpi);
  CLI::App app{"infoflow: information flow in noisy neural networks (Goldfeld et al., 2019).\n"
               "Differential entropy of Gaussian mixtures by Monte Carlo, on CPU or GPU."};
  app.set_version_flag("--version", "infoflow " + std::string(version()));
  app.require_subcommand(1);
  const Command commands[] = {add_entropy_command(app), add_log_density_command(app),
                              add_mi_command(app),      add_train_command(app, argc, argv),
                              add_plot_command(app),    add_demo_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return mpi.rank() == 0 ? app.exit(e) : 0;  // --help, --version
    return fail(2, std::string(e.what()) + "\nRun 'infoflow --help' for usage.");
  }
  try {
    for (const auto& c : commands) {
      if (!c.app->parsed()) continue;
      const std::string name = c.app->get_name();
      if (mpi.size() > 1 && name != "entropy" && name != "mi") {
        return fail(2, "'" + name + "' runs in one process; under mpirun only 'entropy' and 'mi' split their work across ranks");
      }
      return c.run();
    }
  } catch (const CollectiveFailure& f) {
    return f.code;  // another rank failed and said why
  } catch (const ResourceError& e) {
    return fail(3, e.what());
  } catch (const InvalidArgument& e) {
    return fail(2, e.what(), true);
  } catch (const Error& e) {  // bad input or usage: InvalidArgument, IoError
    return fail(2, e.what());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  return 1;
}

}  // namespace infoflow::cli
