#include "cli/common.hpp"

#include <sstream>

namespace infoflow::cli {

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
