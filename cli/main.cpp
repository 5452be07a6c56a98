// infoflow command-line tool: the whole of it is cli::run (cli/app.cpp).
#include "cli/commands.hpp"
#include "infoflow/network.hpp"

int main(int argc, char** argv) {
  infoflow::single_threaded_blas();  // this process owns every BLAS call in it
  return infoflow::cli::run(argc, argv);
}
