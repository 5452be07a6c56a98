#include "cli/common.hpp"

#include <sstream>

namespace infoflow::cli {

void add_tolerance_option(CLI::App* sub, double& tolerance) {
  sub->add_option("--tolerance", tolerance,
                  "pruning: each log-sum-exp may be low by at most this relative error (proven "
                  "bound); 0 evaluates every pair")
      ->capture_default_str();
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
