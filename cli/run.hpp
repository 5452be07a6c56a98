// The infoflow command line as one function, the CLI's only entry point for other code:
// the binary's main() (cli/main.cpp), the CLI fuzzer and `python -m infoflow`
// (python/cli_entry.cpp) call it, so all three are the same command line.
#pragma once

namespace infoflow::cli {

// The whole command line: parses argv, runs the chosen subcommand, returns the exit code.
int run(int argc, char** argv);

}  // namespace infoflow::cli
