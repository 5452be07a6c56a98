// CSV reader: comma-separated numbers, one row per line. The header rule is strict: the
// first line is a header only when none of its fields is a number; any later field that
// is not a number is an error naming its line and column (a typo in the first data row
// used to make that row a "header", silently dropping it). Numbers are parsed with
// std::from_chars, so the result does not depend on the C locale (a program that set a
// German locale would otherwise read "1.5" as 1).
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>
#include <cmath>
#include <string_view>
#include <system_error>

#include "io/matrix_file.hpp"
#include "host_memory.hpp"

namespace infoflow::io {
namespace {

using internal::fail;

std::string_view trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string_view::npos ? std::string_view() : s.substr(b, e - b + 1);
}

enum class FieldError { None, Empty, NotNumber, OutOfRange };

FieldError parse_number(std::string_view field, double& v) {
  if (field.empty()) return FieldError::Empty;
  const char* b = field.data();
  const char* e = b + field.size();
  // from_chars refuses the leading '+' that spreadsheets sometimes write.
  if (*b == '+' && e - b > 1 && b[1] != '-' && b[1] != '+') ++b;
  const auto r = std::from_chars(b, e, v);
  if (r.ec == std::errc::result_out_of_range && r.ptr == e) return FieldError::OutOfRange;
  if (r.ec != std::errc() || r.ptr != e) return FieldError::NotNumber;
  return FieldError::None;
}

struct LineParse {
  FieldError error = FieldError::None;
  std::size_t column = 0;  // 1-based, of the first bad field
  std::string_view field;
};

// Parses one comma-separated line into `out`, stopping at the first bad field.
LineParse parse_line(std::string_view line, std::vector<double>& out) {
  out.clear();
  std::size_t start = 0;
  for (std::size_t column = 1;; ++column) {
    const std::size_t comma = line.find(',', start);
    const std::string_view field =
        trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    double v = 0;
    const FieldError err = parse_number(field, v);
    if (err != FieldError::None) return {err, column, field};
    out.push_back(v);
    if (comma == std::string_view::npos) return {};
    start = comma + 1;
  }
}

// The field as it may appear in a one-line message: printable and short.
std::string printable(std::string_view field) {
  std::string s(field.substr(0, 40));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return field.size() > 40 ? s + "..." : s;
}

std::string describe(std::size_t lineno, const LineParse& p) {
  const std::string where = "line " + std::to_string(lineno) + ", column " + std::to_string(p.column) + ": ";
  const std::string text = "'" + printable(p.field) + "'";
  switch (p.error) {
    case FieldError::Empty:
      return where + "empty field";
    case FieldError::OutOfRange:
      return where + text + " is out of range for float64";
    default: {
      const bool other_separator = p.field.find_first_of(" \t;") != std::string_view::npos;
      return where + text + " is not a number" + (other_separator ? " (separate values with commas)" : "");
    }
  }
}

void check_finite(const std::string& path, std::size_t lineno, const std::vector<double>& row) {
  for (std::size_t k = 0; k < row.size(); ++k) {
    if (!std::isfinite(row[k])) {
      const char* name = std::isnan(row[k]) ? "nan" : row[k] > 0 ? "inf" : "-inf";
      fail(path, std::string("non-finite value (") + name + ") at line " + std::to_string(lineno) +
                     ", column " + std::to_string(k + 1));
    }
  }
}

// The file's lines: \n, \r\n and a lone \r (old Mac exports) all end a line.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    lines.push_back(text.substr(start, i - start));
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

// The header rule: the first line is a header only when none of its fields is a number
// (so "x,y" and ",a,b" are headers, and "1.5,x" is a data row with a bad field).
bool is_header(std::string_view line) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    const std::string_view field =
        trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    double v = 0;
    const FieldError e = parse_number(field, v);
    if (e == FieldError::None || e == FieldError::OutOfRange) return false;
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

}  // namespace

// Line and column numbers in messages are 1-based, as an editor shows them.
Matrix read_csv(const std::string& path) {
  std::ifstream f = internal::open_for_reading(path);
  std::string text;
  {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec) {
      // The text and the parsed values (8 bytes for at least 2 of text). Small files skip
      // the check, which reads /proc/meminfo.
      if (size > (1u << 20)) detail::require_memory(static_cast<double>(size) * 5, path);
      text.reserve(static_cast<std::size_t>(size));
    }
    std::ostringstream all;
    all << f.rdbuf();
    if (f.bad()) fail(path, "read error");
    text = std::move(all).str();
  }
  if (const std::size_t nul = text.find('\0'); nul != std::string::npos) {
    fail(path, "not a text file (NUL byte on line " +
                   std::to_string(1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n')) + ")");
  }
  std::string_view body = text;
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 BOM
  Matrix m;
  std::vector<double> row;
  bool header = false, seen_line = false;  // only the first non-comment line may be a header
  std::size_t first_data_line = 0, lineno = 0;
  for (const std::string_view raw : split_lines(body)) {
    ++lineno;
    const std::string_view t = trim(raw);
    if (t.empty() || t[0] == '#') continue;
    if (!seen_line) {
      seen_line = true;
      if (is_header(t)) {
        header = true;
        continue;
      }
    }
    const LineParse p = parse_line(t, row);
    if (p.error != FieldError::None) fail(path, describe(lineno, p));
    if (m.rows == 0) m.cols = row.size(), first_data_line = lineno;
    if (row.size() != m.cols) {
      fail(path, "line " + std::to_string(lineno) + " has " + std::to_string(row.size()) + " values, expected " +
                     std::to_string(m.cols) + " (as on line " + std::to_string(first_data_line) + ")");
    }
    check_finite(path, lineno, row);
    m.values.insert(m.values.end(), row.begin(), row.end());
    ++m.rows;
  }
  if (m.rows == 0) fail(path, header ? "no data rows (only a header line)" : "no data rows (empty, or only blank and comment lines)");
  return m;
}

}  // namespace infoflow::io
