#include "cli/common.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace infoflow::cli {

namespace {

std::string quoted(const std::string& s) { return "'" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "'"; }

std::string real_text(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

}  // namespace

std::uint64_t parse_count(const std::string& s, const std::string& name, std::uint64_t min, std::uint64_t max) {
  const std::string range = " (expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ")";
  if (s.empty()) throw InvalidArgument(name + ": empty value" + range);
  if (s[0] == '-') {
    const bool digits = s.size() > 1 && s.find_first_not_of("0123456789", 1) == std::string::npos;
    if (digits && s.find_first_not_of("0", 1) == std::string::npos && min == 0) return 0;  // "-0"
    throw InvalidArgument(name + ": " + quoted(s) + (digits ? " is negative" : " is not an integer") + range);
  }
  std::uint64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (r.ec == std::errc::result_out_of_range) throw InvalidArgument(name + ": " + quoted(s) + " is out of range" + range);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
    throw InvalidArgument(name + ": " + quoted(s) + " is not an integer" + range);
  }
  if (v < min || v > max) throw InvalidArgument(name + ": " + s + " is out of range" + range);
  return v;
}

double parse_real(const std::string& s, const std::string& name, double min, double max, bool min_exclusive,
                  bool max_exclusive) {
  const std::string range = " (expected a number " + std::string(min_exclusive ? "> " : ">= ") + real_text(min) +
                            (max < std::numeric_limits<double>::max() ? (max_exclusive ? " and < " : " and <= ") + real_text(max) : "") + ")";
  if (s.empty()) throw InvalidArgument(name + ": empty value" + range);
  // strtod, not from_chars: a subnormal value is a value (its own checks say what it
  // means), and only an overflow or an underflow to 0 is out of range. No locale is set.
  if (std::isspace(static_cast<unsigned char>(s[0]))) throw InvalidArgument(name + ": " + quoted(s) + " is not a number" + range);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || end == s.c_str()) throw InvalidArgument(name + ": " + quoted(s) + " is not a number" + range);
  if (errno == ERANGE && (v == 0 || std::isinf(v))) {
    throw InvalidArgument(name + ": " + quoted(s) + " is out of the range of float64" + range);
  }
  if (!std::isfinite(v)) throw InvalidArgument(name + ": " + quoted(s) + " is not a finite number" + range);
  if (v < min || (min_exclusive && v == min) || v > max || (max_exclusive && v == max)) throw InvalidArgument(name + ": " + s + " is out of range" + range);
  return v;
}

namespace {

// Errors while parsing are CLI11's, so that they are reported as usage errors (exit 2).
template <class F>
auto as_parse_error(F&& f) {
  try {
    return f();
  } catch (const InvalidArgument& e) {
    throw CLI::ValidationError(e.what());
  }
}

}  // namespace

CLI::Option* add_count_option(CLI::App* sub, const std::string& name, std::uint64_t& target, std::uint64_t min,
                              std::uint64_t max, const std::string& description) {
  const std::string def = std::to_string(target);
  return sub
      ->add_option_function<std::string>(
          name, [&target, name, min, max](const std::string& s) { target = as_parse_error([&] { return parse_count(s, name, min, max); }); },
          description)
      ->default_str(def)
      ->type_name("UINT");
}

CLI::Option* add_int_option(CLI::App* sub, const std::string& name, int& target, int min, int max,
                            const std::string& description) {
  const std::string def = std::to_string(target);
  return sub
      ->add_option_function<std::string>(
          name,
          [&target, name, min, max](const std::string& s) {
            target = as_parse_error([&] {
              return static_cast<int>(parse_count(s, name, static_cast<std::uint64_t>(min), static_cast<std::uint64_t>(max)));
            });
          },
          description)
      ->default_str(def)
      ->type_name("INT");
}

CLI::Option* add_real_option(CLI::App* sub, const std::string& name, double& target, double min, double max,
                             bool min_exclusive, const std::string& description, bool max_exclusive) {
  std::ostringstream def;
  def << target;
  return sub
      ->add_option_function<std::string>(
          name,
          [&target, name, min, max, min_exclusive, max_exclusive](const std::string& s) {
            target = as_parse_error([&] { return parse_real(s, name, min, max, min_exclusive, max_exclusive); });
          },
          description)
      ->default_str(def.str())
      ->type_name("FLOAT");
}

void refuse_empty_values(const CLI::App& sub) {
  for (const CLI::Option* o : sub.get_options()) {
    if (o->count() == 0 || o->get_expected_min() == 0) continue;  // not given, or a flag
    for (const std::string& r : o->results()) {
      if (r.empty()) throw InvalidArgument(o->get_name() + ": empty value");
    }
  }
}

void add_tolerance_option(CLI::App* sub, double& tolerance) {
  add_real_option(sub, "--tolerance", tolerance, 0, 1, false,
                  "pruning: each log-sum-exp may be low by at most this relative error (proven "
                  "bound), in [0, 1); 0 evaluates every pair",
                  true);
}

void add_threads_option(CLI::App* sub, int& threads) {
  add_int_option(sub, "--threads", threads, 0, kMaxThreads, "cpu threads, 0 to " + std::to_string(kMaxThreads) + " (0 = all cores)");
}

void add_seed_option(CLI::App* sub, std::uint64_t& seed, const std::string& description) {
  add_count_option(sub, "--seed", seed, 0, std::numeric_limits<std::uint64_t>::max(), description + " (0 to 2^64 - 1)");
}

void EstimatorFlags::apply(MutualInformationOptions& o) const {
  o.resample_inputs = parse_input_resample(resample_inputs);
  o.clip_at_zero = clip_at_zero, o.bias_correction = bias_correction, o.bounds = bounds;
}

void add_estimator_flags(CLI::App* sub, EstimatorFlags& f) {
  sub->add_option("--resample-inputs", f.resample_inputs,
                  "none | bootstrap: draw m inputs with replacement (seeded by --seed; train draws once for the "
                  "whole run), each entry with its own passes, as the authors' code does; then I is of the "
                  "resampled X, at most its H(X) < ln m")
      ->capture_default_str();
  sub->add_flag("--clip-at-zero", f.clip_at_zero, "report max(0, I) for every I, as the authors' code does");
  sub->add_flag("--bias-correction", f.bias_correction,
                "also the plug-in bias of each I and the debiased I, from K, K/2 and K/4 passes per input "
                "extrapolated in 1/K (needs K >= 4; about 3x the time)");
  sub->add_flag("--bounds", f.bounds,
                "also lower <= I <= upper from the pairwise (Kolchinsky-Tracey) bounds of every term; costs n^2 "
                "kernel evaluations per mixture of n centres, (m K)^2 for h(T_l) at l >= 2");
}

void check_tolerance_option(double tolerance) {
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw InvalidArgument("--tolerance must be in [0, 1), got " + std::to_string(tolerance));
  }
}

void check_threads_option(int threads) {
  if (threads < 0 || threads > kMaxThreads) {
    throw InvalidArgument("--threads must be between 0 (all cores) and " + std::to_string(kMaxThreads) +
                          ", got " + std::to_string(threads));
  }
}

std::vector<std::size_t> parse_positive_list(const std::string& s, const char* option) {
  std::vector<std::size_t> out;
  std::stringstream ss(s + ",");  // so an empty last field ("1,2,") is seen and refused
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(static_cast<std::size_t>(v));
    } catch (const std::exception&) {
      throw InvalidArgument(std::string(option) + ": '" + item + "' is not a positive integer");
    }
  }
  return out;
}

}  // namespace infoflow::cli
