// `python -m infoflow ...` (python/infoflow/__main__.py): the infoflow command line run
// inside the Python process by the same cli::run the binary's main() calls, so a pip user
// gets the binary's commands, flags, output, JSON and exit codes without building CMake,
// and they cannot drift apart.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <vector>

#include "cli/run.hpp"
#include "infoflow/network.hpp"

namespace nb = nanobind;
using namespace nb::literals;

void bind_cli(nb::module_& m) {
  m.def(
      "_cli_main",
      [](std::vector<std::string> args) {
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        // As cli/main.cpp: `python -m infoflow` owns the process's BLAS calls. In the wheel
        // the module has its own OpenBLAS linked in (CMakeLists.txt), so a numpy in the
        // same process keeps its threads either way.
        nb::gil_scoped_release release;  // nothing in a command calls back into Python
        infoflow::single_threaded_blas();
        return infoflow::cli::run(static_cast<int>(args.size()), argv.data());
      },
      "argv"_a,
      "Runs the infoflow command line on argv (argv[0] is the program name shown in usage) "
      "and returns its exit code. Writes to the process's file descriptors 1 and 2, not to "
      "sys.stdout: for `python -m infoflow`, not for use inside a program.");
}
