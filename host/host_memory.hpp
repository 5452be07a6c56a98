// Memory checks before large allocations, so a job that cannot fit says so instead of
// being killed by the OOM killer half way.
#pragma once

#include <cstddef>
#include <cstdio>
#include <fstream>
#include <string>

#include "infoflow/infoflow.hpp"

namespace infoflow::detail {

// MemAvailable from /proc/meminfo in bytes; 0 when unknown (then nothing is refused).
inline std::size_t available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

inline std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// Throws ResourceError naming `what` when `bytes` exceeds the available memory.
inline void require_memory(double bytes, const std::string& what) {
  const std::size_t avail = available_memory_bytes();
  if (avail != 0 && bytes > static_cast<double>(avail)) {
    throw ResourceError(what + " needs " + gib(bytes) + ", only " + gib(static_cast<double>(avail)) +
                        " of memory is available");
  }
}

}  // namespace infoflow::detail
