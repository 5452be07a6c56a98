// The CLI's subcommands: each registers its options on the app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/run.hpp"

namespace infoflow::cli {

class MpiSession;
// The process's MPI session (inactive in a plain run): rank, communicator, checkpoint.
MpiSession& session();

struct Command {
  CLI::App* app;             // the subcommand, parsed() once chosen
  std::function<int()> run;  // runs it; returns the exit code
};

// `infoflow entropy`: entropy of the Gaussian mixture centred on a file's rows.
Command add_entropy_command(CLI::App& app);
// `infoflow log-density`: log g(y) at each query row, to a .npy (shape (m,)) or .csv file.
Command add_log_density_command(CLI::App& app);
// `infoflow mi`: I(X;T_l) and I(Y;T_l) of a model's noisy layers.
Command add_mi_command(CLI::App& app);
// `infoflow train`: train a noisy network and track its information plane (argv goes to run.json).
Command add_train_command(CLI::App& app, int argc, char** argv);
// `infoflow plot`: the figures of a train run.
Command add_plot_command(CLI::App& app);
// `infoflow demo`: the built-in example of the README's first command.
Command add_demo_command(CLI::App& app);

}  // namespace infoflow::cli
