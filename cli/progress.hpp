// A one-line progress indicator on stderr, shown only when stderr is a terminal and the
// run has already taken a couple of seconds, so scripts and quick runs see nothing.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace infoflow::cli {

class ProgressLine {
 public:
  // shown=false keeps it silent (the ranks of an MPI job other than rank 0).
  explicit ProgressLine(const char* label, bool shown = true)
      : label_(label), enabled_(shown && isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}
  ~ProgressLine() { finish(); }
  // detail: an optional state to show, e.g. the current epoch and loss.
  void update(double fraction, const char* detail = "") {
    if (!enabled_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    if (elapsed < kDelaySeconds || elapsed - last_ < 0.2) return;
    last_ = elapsed;
    const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
    std::fprintf(stderr, "\r%s: %5.1f%%  %s  elapsed %.0fs  eta %.0fs   ", label_, 100 * fraction,
                 detail, elapsed, eta);
    shown_ = true;
  }
  void finish() {
    if (shown_) std::fprintf(stderr, "\r%120s\r", "");
    shown_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr double kDelaySeconds = 2.0;
  const char* label_;
  bool enabled_;
  bool shown_ = false;
  double last_ = 0;
  Clock::time_point start_;
};

}  // namespace infoflow::cli
