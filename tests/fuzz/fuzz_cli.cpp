// libFuzzer harness for the command line: each input is an argv, one argument per line,
// run through cli::run (the whole CLI: CLI11 parsing, our option checks, the file readers
// and the estimators). A non-zero exit code with a message is an accepted outcome; a
// crash, a sanitizer report, a leak or an escaped exception is a bug.
//
// The run happens in a scratch directory holding small valid files (c.npy, c.csv, x.npy,
// y.npy, w.npy, m.safetensors) that the seed corpus (tests/fuzz/corpus/cli) names. Inputs
// are skipped when they could not be run safely or quickly in-process:
//   - an argument with '/' (reads and writes stay in the scratch directory);
//   - train, plot and demo (they write run directories or run for minutes; their option
//     checks are exercised by the unit tests);
//   - a work size (samples, queries, passes, threads) of more than two characters, or a
//     target standard error below 0.01, so one execution stays within milliseconds (two
//     characters, not a numeric bound, so no spelling of a number slips past); sizes
//     themselves are checked by tests/test_cli.cpp, tests/test_extreme_inputs.cpp and
//     tests/test_hostile_inputs.cpp. The hostile_* seeds start from each class of
//     tests/README.md "Hostile input" that runs in-process.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "infoflow/network.hpp"
#include "infoflow/io.hpp"

namespace {

void write_scratch_files() {
  const double c[] = {0.1, -0.2, 0.5, 0.4, -0.7, 0.3, 0.0, 0.9, 0.2, 0.2, -0.4, -0.6};
  infoflow::io::write_npy("c.npy", {c, 6, 2});
  infoflow::io::write_npy("x.npy", {c, 4, 3});
  const double y[] = {0, 1, 1, 0}, w[] = {0.1, 0.2, 0.3, 0.4};
  infoflow::io::write_npy("y.npy", {y, 4, 1});
  infoflow::io::write_npy("w.npy", {w, 4, 1});
  FILE* f = std::fopen("c.csv", "w");
  std::fputs("a,b\n0.1,-0.2\n0.5,0.4\n-0.7,0.3\n", f);
  std::fclose(f);
  infoflow::Network net;
  for (const auto [in, out] : {std::pair<std::size_t, std::size_t>{3, 4}, {4, 2}}) {
    infoflow::DenseLayer l;
    l.in = in, l.out = out;
    for (std::size_t i = 0; i < in * out; ++i) l.weight.push_back(0.3 * std::sin(1.0 + i));
    l.bias.assign(out, 0.05);
    net.layers.push_back(l);
  }
  infoflow::save_network("m.safetensors", net);
}

bool is_size_option(const std::string& name) {
  return name == "--samples-per-center" || name == "--samples-per-input" ||
         name == "--mc-samples-per-center" || name == "--mc-queries" || name == "--threads";
}

// Whether `value` for option `name` keeps one execution small (see the header comment).
bool small_enough(const std::string& name, const std::string& value) {
  if (is_size_option(name)) return value.size() <= 2;
  if (name == "--target-stderr") {
    const double v = std::strtod(value.c_str(), nullptr);
    return !(v > 0 && v < 0.01);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // LLVM's libomp keeps its old thread array whenever a team outgrows every earlier one
  // (other threads may still read it), which LeakSanitizer then reports at exit: inputs
  // asking for 7, then 3, then 40 threads did. One team of the most threads an input can
  // ask for (two characters: 99) grows it once, here, so later inputs never do.
#pragma omp parallel num_threads(99)
  {
  }
  char dir[] = "/tmp/infoflow_fuzz_cli_XXXXXX";
  if (!::mkdtemp(dir) || ::chdir(dir) != 0) std::abort();
  write_scratch_files();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"infoflow"};
  std::string current;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == '\n') {
      args.push_back(current);
      current.clear();
      if (args.size() > 32) return -1;
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.find('/') != std::string::npos || a.find('\0') != std::string::npos) return -1;
    if (a == "train" || a == "plot" || a == "demo") return -1;
    const std::size_t eq = a.find('=');
    if (eq != std::string::npos && !small_enough(a.substr(0, eq), a.substr(eq + 1))) return -1;
    if (i + 1 < args.size() && !small_enough(a, args[i + 1])) return -1;
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  infoflow::cli::run(static_cast<int>(args.size()), argv.data());
  return 0;
}
