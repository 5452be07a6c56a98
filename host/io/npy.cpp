// .npy reader and writer (format: numpy.lib.format, versions 1.0-3.0). The header is
// checked against the file size before anything is allocated, so a hostile header never
// causes a huge allocation; every value is checked finite.
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "io/matrix_file.hpp"
#include "memory.hpp"

namespace infoflow::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(path + ": " + what);
}

struct NpyHeader {
  std::string descr;
  char kind = 0;  // 'f', 'i', 'u'
  std::size_t itemsize = 0;
  std::vector<std::size_t> shape;
  std::size_t count = 1;  // product of shape
  std::size_t data_offset = 0;
};

// Value of `key` in the header dict: the text after "'key':" up to the next ',' or '}',
// or the parenthesised tuple for shape.
std::string dict_value(const std::string& path, const std::string& dict, const std::string& key) {
  std::size_t p = dict.find("'" + key + "'");
  if (p == std::string::npos) fail(path, "malformed .npy header: no '" + key + "' entry");
  p = dict.find(':', p);
  if (p == std::string::npos) fail(path, "malformed .npy header near '" + key + "'");
  ++p;
  while (p < dict.size() && dict[p] == ' ') ++p;
  const char close = dict[p] == '(' ? ')' : dict[p] == '\'' ? '\'' : 0;
  const std::size_t end = close ? dict.find(close, p + 1) : dict.find_first_of(",}", p);
  if (end == std::string::npos) fail(path, "malformed .npy header near '" + key + "'");
  return close ? dict.substr(p + 1, end - p - 1) : dict.substr(p, end - p);
}

void parse_descr(const std::string& path, NpyHeader& h) {
  const std::string& d = h.descr;
  if (d.size() < 3 || (d[0] != '<' && d[0] != '|' && d[0] != '=') ||
      (d[1] != 'f' && d[1] != 'i' && d[1] != 'u')) {
    fail(path, "unsupported dtype '" + d + "' (expected little-endian float32/float64 or integers)");
  }
  h.kind = d[1];
  h.itemsize = std::strtoul(d.c_str() + 2, nullptr, 10);
  const bool ok = h.kind == 'f' ? (h.itemsize == 4 || h.itemsize == 8)
                                : (h.itemsize == 1 || h.itemsize == 2 || h.itemsize == 4 || h.itemsize == 8);
  if (!ok) fail(path, "unsupported dtype '" + d + "' (expected float32/float64 or integers)");
}

void parse_shape(const std::string& path, const std::string& text, NpyHeader& h) {
  std::size_t p = 0;
  while (p < text.size()) {
    while (p < text.size() && (text[p] == ' ' || text[p] == ',')) ++p;
    if (p >= text.size()) break;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text.c_str() + p, &end, 10);
    if (end == text.c_str() + p || text[p] == '-') fail(path, "malformed .npy shape (" + text + ")");
    if (v != 0 && h.count > std::numeric_limits<std::size_t>::max() / 8 / v) {
      fail(path, "shape (" + text + ") is too large");
    }
    h.shape.push_back(v), h.count *= v;
    p = end - text.c_str();
  }
  if (h.shape.empty() || h.shape.size() > 2) {
    fail(path, "expected a 1-D or 2-D array, got shape (" + text + ")");
  }
}

NpyHeader read_header(std::ifstream& f, const std::string& path, std::size_t file_size) {
  char prefix[10];
  if (!f.read(prefix, 8) || std::memcmp(prefix, "\x93NUMPY", 6) != 0) {
    fail(path, "not a .npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(prefix[6]);
  std::size_t len_bytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
  if (len_bytes == 0) fail(path, "unsupported .npy version " + std::to_string(major));
  unsigned char lb[4] = {0, 0, 0, 0};
  if (!f.read(reinterpret_cast<char*>(lb), static_cast<std::streamsize>(len_bytes))) {
    fail(path, "truncated .npy header");
  }
  const std::size_t header_len = lb[0] | (lb[1] << 8) | (std::size_t{lb[2]} << 16) | (std::size_t{lb[3]} << 24);
  NpyHeader h;
  h.data_offset = 8 + len_bytes + header_len;
  if (h.data_offset > file_size) fail(path, "truncated .npy header (length field past end of file)");
  std::string dict(header_len, '\0');
  f.read(dict.data(), static_cast<std::streamsize>(header_len));
  const std::size_t open = dict.find('{'), close = dict.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    fail(path, "malformed .npy header (no dict)");
  }
  dict = dict.substr(open, close - open + 1);
  h.descr = dict_value(path, dict, "descr");
  const std::string fortran = dict_value(path, dict, "fortran_order");
  if (fortran.find("True") != std::string::npos) {
    fail(path, "Fortran-order array not supported; save with np.ascontiguousarray");
  }
  if (fortran.find("False") == std::string::npos) fail(path, "malformed fortran_order entry");
  parse_descr(path, h);
  parse_shape(path, dict_value(path, dict, "shape"), h);
  const std::size_t bytes = h.count * h.itemsize, have = file_size - h.data_offset;
  if (bytes != have) {
    fail(path, (have < bytes ? "truncated: header says " : "size mismatch: header says ") +
                   std::to_string(bytes) + " bytes of data, file has " + std::to_string(have));
  }
  return h;
}

double decode(const unsigned char* p, char kind, std::size_t size) {
  if (kind == 'f') {
    if (size == 4) { float v; std::memcpy(&v, p, 4); return v; }
    double v; std::memcpy(&v, p, 8); return v;
  }
  std::uint64_t u = 0;
  std::memcpy(&u, p, size);  // little-endian host
  if (kind == 'u') return static_cast<double>(u);
  const int shift = 64 - 8 * static_cast<int>(size);
  return static_cast<double>(static_cast<std::int64_t>(u << shift) >> shift);
}

// Reads the data of an opened file as doubles; checks every value is finite.
std::vector<double> read_values(std::ifstream& f, const std::string& path, const NpyHeader& h) {
  detail::require_memory(static_cast<double>(h.count) * sizeof(double), path);
  std::vector<double> out(h.count);
  const std::size_t cols = h.shape.size() == 2 ? h.shape[1] : 1;
  std::vector<unsigned char> buf(std::size_t{1} << 20);
  const std::size_t per = buf.size() / h.itemsize;
  for (std::size_t i = 0; i < h.count; i += per) {
    const std::size_t k = std::min(per, h.count - i);
    if (!f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(k * h.itemsize))) {
      fail(path, "read error");
    }
    for (std::size_t j = 0; j < k; ++j) {
      const double v = decode(buf.data() + j * h.itemsize, h.kind, h.itemsize);
      if (!std::isfinite(v)) {
        fail(path, "non-finite value (" + std::to_string(v) + ") at row " +
                       std::to_string((i + j) / cols) + ", column " + std::to_string((i + j) % cols));
      }
      out[i + j] = v;
    }
  }
  return out;
}

NpyHeader open_npy(std::ifstream& f, const std::string& path) {
  f.open(path, std::ios::binary | std::ios::ate);
  if (!f) fail(path, "cannot open file (" + std::string(std::strerror(errno)) + ")");
  const auto size = static_cast<std::size_t>(f.tellg());
  f.seekg(0);
  return read_header(f, path, size);
}

void write_raw(const std::string& path, const char* descr, const void* data, std::size_t rows,
               std::size_t cols, std::size_t itemsize) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                     std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::ofstream f(path, std::ios::binary);
  const unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                    static_cast<unsigned char>(dict.size() & 0xff),
                                    static_cast<unsigned char>(dict.size() >> 8)};
  f.write(reinterpret_cast<const char*>(prefix), 10);
  f << dict;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(rows * cols * itemsize));
  if (!f) fail(path, "write failed");
}

}  // namespace

Matrix read_npy(const std::string& path) {
  std::ifstream f;
  const NpyHeader h = open_npy(f, path);
  if (h.count == 0) fail(path, "empty array");
  Matrix m;
  m.rows = h.shape[0], m.cols = h.shape.size() == 2 ? h.shape[1] : 1;
  m.values = read_values(f, path, h);
  return m;
}

std::vector<std::int64_t> read_npy_integers(const std::string& path) {
  std::ifstream f;
  const NpyHeader h = open_npy(f, path);
  if (h.count == 0) fail(path, "empty array");
  if (h.shape.size() == 2 && h.shape[1] != 1) fail(path, "expected a 1-D array of labels");
  const std::vector<double> v = read_values(f, path, h);
  std::vector<std::int64_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != std::floor(v[i]) || std::abs(v[i]) > 9e15) {
      fail(path, "label " + std::to_string(v[i]) + " at index " + std::to_string(i) + " is not an integer");
    }
    out[i] = static_cast<std::int64_t>(v[i]);
  }
  return out;
}

void write_npy(const std::string& path, MatrixView<double> m) {
  write_raw(path, "<f8", m.data, m.rows, m.cols, 8);
}

void write_npy(const std::string& path, const float* data, std::size_t rows, std::size_t cols) {
  write_raw(path, "<f4", data, rows, cols, 4);
}

}  // namespace infoflow::io
