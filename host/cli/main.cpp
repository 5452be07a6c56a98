// infoflow command-line tool: the whole of it is cli::run (host/cli/app.cpp).
#include "cli/commands.hpp"

int main(int argc, char** argv) { return infoflow::cli::run(argc, argv); }
