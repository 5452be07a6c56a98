// The infoflow command line, as a function: main() calls it, and so does the CLI fuzzer
// (tests/fuzz/fuzz_cli.cpp). Every error ends as one line on stderr and a non-zero exit
// code (2: bad usage or input, 3: resources, 1: anything else); stdout carries only results.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <algorithm>
#include <vector>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "infoflow/infoflow.hpp"
#include "cli/mpi/mpi_session.hpp"

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

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'X'?)" for the nearest name, when it is near enough to be a typo.
std::string suggestion(const std::string& typed, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, typed.size() / 3) + 1;
  for (const std::string& n : names) {
    const std::size_t d = edit_distance(typed, n);
    if (d < best_d) best = n, best_d = d;
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// CLI11 reports a misspelt command as "A subcommand is required" and a misspelt option
// as whichever required option is missing; this names what was typed instead.
std::string unknown_name(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> commands;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) commands.push_back(c->get_name());
  int i = 1;
  for (; i < argc; ++i) {
    const std::string t = argv[i];
    if (t == "--help" || t == "-h" || t == "--version") return "";
    if (t.empty() || t[0] != '-') break;
    return "unknown option '" + t + "' before the command" + suggestion(t, {"--help", "--version"});
  }
  if (i == argc) return "";
  const std::string name = argv[i];
  CLI::App* sub = nullptr;
  for (CLI::App* c : app.get_subcommands([](CLI::App*) { return true; })) {
    if (c->get_name() == name) sub = c;
  }
  if (sub == nullptr) {
    std::string all;
    for (const auto& c : commands) all += (all.empty() ? "" : ", ") + c;
    return "unknown command '" + name + "'" + suggestion(name, commands) + "; the commands are " + all;
  }
  std::vector<std::string> options{"--help"};
  for (const CLI::Option* o : sub->get_options()) {
    for (const std::string& l : o->get_lnames()) options.push_back("--" + l);
  }
  std::vector<const CLI::Option*> seen;
  for (++i; i < argc; ++i) {
    const std::string t = argv[i];
    if (t == "--") break;
    if (t.rfind("--", 0) != 0) continue;
    const std::string opt = t.substr(0, t.find('='));
    const CLI::Option* o = sub->get_option_no_throw(opt);
    if (o == nullptr && opt != "--help") {
      return "unknown option '" + opt + "' for 'infoflow " + name + "'" + suggestion(opt, options) +
             "; see 'infoflow " + name + " --help'";
    }
    if (o == nullptr || o->get_expected_min() == 0) continue;  // --help, or a flag
    // Which of two values counts would be a guess (CLI11 says "At Most 1 required").
    if (std::find(seen.begin(), seen.end(), o) != seen.end()) return opt + " is given twice; give it once";
    seen.push_back(o);
    if (t.find('=') == std::string::npos) ++i;  // its value
  }
  return "";
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
  if (const std::string unknown = unknown_name(app, argc, argv); !unknown.empty()) {
    return fail(2, unknown + "\nRun 'infoflow --help' for usage.");
  }
  try {
    app.parse(argc, argv);
    for (const auto& c : commands) {
      if (c.app->parsed()) refuse_empty_values(*c.app);
    }
  } catch (const InvalidArgument& e) {
    return fail(2, e.what());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      if (mpi.rank() != 0) return 0;
      app.exit(e);
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::clearerr(stdout);
        return fail(1, std::string("cannot write to standard output (") + std::strerror(errno) + ")");
      }
      return 0;
    }
    return fail(2, std::string(e.what()) + "\nRun 'infoflow --help' for usage.");
  }
  try {
    for (const auto& c : commands) {
      if (!c.app->parsed()) continue;
      const std::string name = c.app->get_name();
      if (mpi.size() > 1 && name != "entropy" && name != "mi") {
        return fail(2, "'" + name + "' runs in one process; under mpirun only 'entropy' and 'mi' split their work across ranks");
      }
      const int code = c.run();
      // A result that did not reach stdout (a full disk, /dev/full, a closed pipe) is no result.
      errno = 0;
      if ((std::fflush(stdout) != 0 || std::ferror(stdout)) && code == 0) {
        const std::string why = errno ? std::strerror(errno) : "write error";
        std::clearerr(stdout);
        return fail(1, "cannot write the result to standard output (" + why + ")");
      }
      return code;
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
