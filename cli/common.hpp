// Helpers shared by the CLI's subcommands.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"
#include "infoflow/network.hpp"

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
// --threads: 0 (all cores) to kMaxThreads, checked when parsed.
void add_threads_option(CLI::App* sub, int& threads);
void check_threads_option(int threads);
// --seed: 0 to 2^64 - 1.
void add_seed_option(CLI::App* sub, std::uint64_t& seed, const std::string& description);

// Strict numeric options. CLI11 2.1 clamps an unsigned value past its type's range
// (--seed 2^64 became 2^64 - 1), reads an empty string as 0 and lets a negative count
// wrap through a cast; these parse the whole string themselves and refuse, naming the
// option and the value, anything that is not a number inside [min, max]. An option that
// is not given keeps its default: a given 0 is checked like any other value.
inline constexpr std::uint64_t kMaxCount = ~std::uint64_t{0};  // the products of counts are checked where used
CLI::Option* add_count_option(CLI::App* sub, const std::string& name, std::uint64_t& target, std::uint64_t min,
                              std::uint64_t max, const std::string& description);
// min >= 0: the ints here are counts too (--threads).
CLI::Option* add_int_option(CLI::App* sub, const std::string& name, int& target, int min, int max,
                            const std::string& description);
// A finite float64 in [min, max], or (min_exclusive) in (min, max].
CLI::Option* add_real_option(CLI::App* sub, const std::string& name, double& target, double min, double max,
                             bool min_exclusive, const std::string& description,
                             bool max_exclusive = false);
// The same rules as the options, for the library's and tests' use.
std::uint64_t parse_count(const std::string& s, const std::string& name, std::uint64_t min, std::uint64_t max);
double parse_real(const std::string& s, const std::string& name, double min, double max, bool min_exclusive,
                  bool max_exclusive = false);
// Refuses an option given an empty string ("--backend ''"), which would otherwise read as
// its default or as 0.
void refuse_empty_values(const CLI::App& sub);

// The estimator's options that mi and train share (docs/method.md#bootstrap-resample,
// #bias-extrapolation, #bounds-on-the-information): one set of flags, one mapping.
struct EstimatorFlags {
  std::string resample_inputs = "none";
  bool clip_at_zero = false, bias_correction = false, bounds = false;
  bool any() const { return clip_at_zero || bias_correction || bounds || resample_inputs != "none"; }
  // Sets them in o; InvalidArgument for an unknown --resample-inputs.
  void apply(MutualInformationOptions& o) const;
};
void add_estimator_flags(CLI::App* sub, EstimatorFlags& f);

// "1,3,5" -> {1, 3, 5}: positive integers, comma-separated; `option` names the flag in errors.
std::vector<std::size_t> parse_positive_list(const std::string& s, const char* option);

}  // namespace infoflow::cli
