// Products and sums of sizes, checked before they are used: a count taken from a user
// (samples per centre, a label, a width) times another must not wrap around 2^64 into a
// small, plausible size.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>

#include "infoflow/infoflow.hpp"

namespace infoflow::detail {

// a * b, or InvalidArgument "WHAT: A x B is more than 2^64 - 1".
inline std::size_t checked_mul(std::size_t a, std::size_t b, const std::string& what) {
  std::size_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) {
    throw InvalidArgument(what + ": " + std::to_string(a) + " x " + std::to_string(b) + " is more than 2^64 - 1");
  }
  return r;
}

// The product of all factors, checked at every step.
inline std::size_t checked_product(std::initializer_list<std::size_t> factors, const std::string& what) {
  std::size_t r = 1;
  for (std::size_t f : factors) r = checked_mul(r, f, what);
  return r;
}

inline std::size_t checked_add(std::size_t a, std::size_t b, const std::string& what) {
  std::size_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    throw InvalidArgument(what + ": " + std::to_string(a) + " + " + std::to_string(b) + " is more than 2^64 - 1");
  }
  return r;
}

}  // namespace infoflow::detail
