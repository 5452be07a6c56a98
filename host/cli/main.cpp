// infoflow command-line tool: the whole of it is cli::run (host/cli/app.cpp).
#include "cli/commands.hpp"
#include "nn/blas_threads.hpp"

int main(int argc, char** argv) {
  infoflow::detail::single_threaded_blas();  // this process owns every BLAS call in it
  return infoflow::cli::run(argc, argv);
}
