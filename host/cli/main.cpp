// infoflow command-line tool. Every error ends as one line on stderr and a non-zero
// exit code (2: bad usage or input, 3: resources, 1: anything else); stdout carries
// only results.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.hpp"
#include "infoflow/infoflow.hpp"

int main(int argc, char** argv) {
  CLI::App app{"infoflow: information flow in noisy neural networks (Goldfeld et al., 2019).\n"
               "Differential entropy of Gaussian mixtures by Monte Carlo, on CPU or GPU."};
  app.set_version_flag("--version", "infoflow " + std::string(infoflow::version()));
  app.require_subcommand(1);
  const infoflow::cli::Command commands[] = {infoflow::cli::add_entropy_command(app),
                                             infoflow::cli::add_log_density_command(app),
                                             infoflow::cli::add_mi_command(app),
                                             infoflow::cli::add_train_command(app, argc, argv),
                                             infoflow::cli::add_plot_command(app),
                                             infoflow::cli::add_demo_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "infoflow: error: %s\nRun 'infoflow --help' for usage.\n", e.what());
    return 2;
  }
  try {
    for (const auto& c : commands) {
      if (c.app->parsed()) return c.run();
    }
  } catch (const infoflow::ResourceError& e) {
    std::fprintf(stderr, "infoflow: error: %s\n", e.what());
    return 3;
  } catch (const infoflow::Error& e) {  // bad input or usage: InvalidArgument, IoError
    std::fprintf(stderr, "infoflow: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infoflow: error: %s\n", e.what());
    return 1;
  }
  return 1;
}
