// CSV reader: comma-separated numbers, one row per line; an optional header line (a first
// line that does not parse as numbers), '#' comment lines and blank lines are skipped.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/matrix_file.hpp"

namespace infoflow::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(path + ": " + what);
}

std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Parses one line; returns false (and leaves `bad` set) at the first non-number field.
bool parse_fields(const std::string& line, std::vector<double>& out, std::string& bad) {
  out.clear();
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) {
    const std::string t = trim(field);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size()) {
      bad = t;
      return false;
    }
    out.push_back(v);
  }
  if (!line.empty() && line.back() == ',') {  // a trailing comma is an empty field
    bad = "";
    return false;
  }
  return true;
}

}  // namespace

Matrix read_csv(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open file (" + std::string(std::strerror(errno)) + ")");
  Matrix m;
  std::string line, bad;
  std::vector<double> row;
  bool first = true;
  for (std::size_t lineno = 1; std::getline(f, line); ++lineno) {
    if (line.find('\0') != std::string::npos) fail(path, "not a text file (NUL bytes)");
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const bool ok = parse_fields(t, row, bad);
    if (!ok && first && m.rows == 0) {
      first = false;  // a header line
      continue;
    }
    first = false;
    if (!ok) fail(path, "line " + std::to_string(lineno) + ": '" + bad + "' is not a number");
    if (m.rows > 0 && row.size() != m.cols) {
      fail(path, "line " + std::to_string(lineno) + " has " + std::to_string(row.size()) +
                     " values, expected " + std::to_string(m.cols));
    }
    for (std::size_t k = 0; k < row.size(); ++k) {
      if (!std::isfinite(row[k])) {
        fail(path, "non-finite value (" + std::to_string(row[k]) + ") at line " +
                       std::to_string(lineno) + ", column " + std::to_string(k));
      }
    }
    m.cols = row.size();
    m.values.insert(m.values.end(), row.begin(), row.end());
    ++m.rows;
  }
  if (m.rows == 0) fail(path, "empty: no data rows");
  return m;
}

}  // namespace infoflow::io
