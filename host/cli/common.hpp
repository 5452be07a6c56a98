// Helpers shared by the CLI's subcommands.
#pragma once

#include <cmath>
#include <cstdio>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow::cli {

// JSON has no NaN: an undefined value (the standard error of a single draw) is null.
inline nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Says on stderr why auto did not pick the GPU, so a user never wonders which ran.
inline void note_fallback(Backend requested, Backend ran) {
  if (requested == Backend::Auto && ran != Backend::Cuda) {
    std::fflush(stdout);  // keep the order of the two streams when both go to one file
    std::fprintf(stderr, "infoflow: using the cpu backend (%s)\n", cuda_unavailable_reason().c_str());
  }
}

// --tolerance of entropy and mi, checked by the CLI before any (long) file read; the
// library checks it again on entry.
void add_tolerance_option(CLI::App* sub, double& tolerance);
void check_tolerance_option(double tolerance);
// --threads: 0 (all cores) to kMaxThreads, checked before any file is read.
void check_threads_option(int threads);

// "1,3,5" -> {1, 3, 5}: positive integers, comma-separated; `option` names the flag in errors.
std::vector<std::size_t> parse_positive_list(const std::string& s, const char* option);

}  // namespace infoflow::cli
