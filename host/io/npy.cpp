// .npy reader and writer (numpy.lib.format, versions 1.0-3.0). The data size the header
// claims is checked against the file size before anything is allocated, so a hostile
// header never causes a huge allocation.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/matrix_file.hpp"
#include "host_memory.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader assumes a little-endian host"
#endif

namespace infoflow::io {
namespace {

using internal::fail;

// numpy itself refuses headers over 10 000 bytes by default; 1 MiB leaves room for any
// honest file while a (sparse) file claiming a 4 GiB header cannot make us allocate it.
constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 20;

struct Dtype {
  std::string descr;
  char kind = 0;         // 'f', 'i' or 'u'
  std::size_t size = 0;  // bytes per item
  bool swap = false;     // big-endian data
};

struct NpyHeader {
  Dtype dtype;
  std::vector<std::size_t> shape;
  std::size_t count = 0;  // product of shape
  std::size_t rows() const { return shape[0]; }
  std::size_t cols() const { return shape.size() == 2 ? shape[1] : 1; }
};

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The header is a Python dict literal; this accepts what numpy writes (any key order and
// whitespace, single or double quotes, Python 2 "3L" integers) and nothing else.
class DictParser {
 public:
  DictParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran, std::vector<std::size_t>& shape) {
    expect('{', "at the start");
    bool have_descr = false, have_fortran = false, have_shape = false;
    while (!eat('}')) {
      const std::string key = quoted();
      expect(':', "after '" + key + "'");
      if (key == "descr" && !have_descr) {
        if (eat('[')) fail(path_, "structured dtypes are not supported");
        descr = quoted(), have_descr = true;
      } else if (key == "fortran_order" && !have_fortran) {
        fortran = boolean(), have_fortran = true;
      } else if (key == "shape" && !have_shape) {
        shape = tuple(), have_shape = true;
      } else {
        bad("unexpected or repeated key '" + key + "'");
      }
      if (!eat(',')) {
        expect('}', "after the value of '" + key + "'");
        break;
      }
    }
    skip_space();
    if (pos_ != s_.size()) bad("text after the dict");
    if (!have_descr) bad("no 'descr' entry");
    if (!have_fortran) bad("no 'fortran_order' entry");
    if (!have_shape) bad("no 'shape' entry");
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) return ++pos_, true;
    return false;
  }
  void expect(char c, const std::string& where) {
    if (!eat(c)) bad(std::string("expected '") + c + "' " + where);
  }
  [[noreturn]] void bad(const std::string& what) {
    fail(path_, "malformed .npy header: " + what + " (at byte " + std::to_string(pos_) + " of the dict)");
  }
  std::string quoted() {
    skip_space();
    const char q = pos_ < s_.size() ? s_[pos_] : 0;
    if (q != '\'' && q != '"') bad("expected a quoted string");
    const std::size_t end = s_.find(q, pos_ + 1);
    if (end == std::string_view::npos) bad("unterminated string");
    const std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const bool v : {true, false}) {
      const std::string_view word = v ? "True" : "False";
      if (s_.substr(pos_, word.size()) == word) return pos_ += word.size(), v;
    }
    bad("fortran_order must be True or False");
  }
  std::vector<std::size_t> tuple() {
    expect('(', "to open the shape");
    std::vector<std::size_t> out;
    while (!eat(')')) {
      skip_space();
      if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        bad("shape entries must be non-negative integers");
      }
      std::size_t v = 0;
      for (; pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])); ++pos_) {
        const auto digit = static_cast<std::size_t>(s_[pos_] - '0');
        if (v > (std::numeric_limits<std::size_t>::max() - digit) / 10) bad("shape entry too large");
        v = v * 10 + digit;
      }
      if (pos_ < s_.size() && s_[pos_] == 'L') ++pos_;
      out.push_back(v);
      if (!eat(',')) {
        expect(')', "to close the shape");
        break;
      }
    }
    return out;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

Dtype parse_dtype(const std::string& path, const std::string& descr) {
  Dtype t;
  t.descr = descr;
  const bool digits = descr.size() >= 3 && descr.size() <= 4 &&
                      std::all_of(descr.begin() + 2, descr.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    t.kind = descr[1];
    t.size = std::stoul(descr.substr(2));
  }
  const bool size_ok = t.kind == 'f' ? (t.size == 4 || t.size == 8)
                                     : (t.kind == 'i' || t.kind == 'u') &&
                                           (t.size == 1 || t.size == 2 || t.size == 4 || t.size == 8);
  // '|' (no byte order) is what numpy writes for 1-byte types and is meaningless otherwise.
  const char order = descr.empty() ? 0 : descr[0];
  const bool order_ok = order == '<' || order == '>' || order == '=' || (order == '|' && t.size == 1);
  if (!size_ok || !order_ok) {
    fail(path, "unsupported dtype '" + descr + "' (supported: float32, float64, 8/16/32/64-bit integers)");
  }
  t.swap = order == '>' && t.size > 1;
  return t;
}

// Sets h.count and checks the data size the header claims against the bytes present.
void check_data_size(const std::string& path, NpyHeader& h, std::size_t have) {
  if (h.shape.empty() || h.shape.size() > 2) {
    fail(path, "expected a 1-D or 2-D array, got shape " + shape_text(h.shape));
  }
  h.count = 1;
  for (const std::size_t n : h.shape) {
    if (n != 0 && h.count > std::numeric_limits<std::size_t>::max() / h.dtype.size / n) {
      fail(path, "shape " + shape_text(h.shape) + " is too large (size overflows)");
    }
    h.count *= n;
  }
  const std::size_t bytes = h.count * h.dtype.size;
  if (bytes != have) {
    fail(path, std::string(bytes > have ? "truncated" : "size mismatch (trailing bytes)") + ": shape " +
                   shape_text(h.shape) + " of '" + h.dtype.descr + "' needs " + std::to_string(bytes) +
                   " bytes of data, the file has " + std::to_string(have));
  }
  if (h.count == 0) fail(path, "empty array, shape " + shape_text(h.shape));
}

// Shape and dtype, with the data size checked against `file_size`; leaves `f` at the data.
NpyHeader read_header(std::ifstream& f, const std::string& path, std::size_t file_size) {
  unsigned char pre[12] = {};
  if (!f.read(reinterpret_cast<char*>(pre), 8) || std::memcmp(pre, "\x93NUMPY", 6) != 0) {
    fail(path, "not a .npy file (bad magic)");
  }
  if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
    fail(path, "unsupported .npy format version " + std::to_string(pre[6]) + "." + std::to_string(pre[7]));
  }
  const std::size_t len_bytes = pre[6] == 1 ? 2 : 4;
  if (!f.read(reinterpret_cast<char*>(pre + 8), static_cast<std::streamsize>(len_bytes))) {
    fail(path, "truncated .npy header");
  }
  std::size_t header_len = 0;
  for (std::size_t i = len_bytes; i-- > 0;) header_len = header_len << 8 | pre[8 + i];
  const std::size_t offset = 8 + len_bytes + header_len;
  if (offset > file_size) {
    fail(path, "truncated .npy header: header length " + std::to_string(header_len) +
                   " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) fail(path, "implausible .npy header length " + std::to_string(header_len));
  std::string text(header_len, '\0');
  f.read(text.data(), static_cast<std::streamsize>(header_len));
  std::string descr;
  bool fortran = false;
  NpyHeader h;
  DictParser(text, path).parse(descr, fortran, h.shape);
  h.dtype = parse_dtype(path, descr);
  if (fortran) fail(path, "Fortran order not supported; save with np.ascontiguousarray");
  check_data_size(path, h, file_size - offset);
  return h;
}

NpyHeader open_npy(std::ifstream& f, const std::string& path) {
  f = internal::open_for_reading(path);
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  f.seekg(0);
  if (size < 0 || !f) fail(path, "cannot determine the file size (not a regular file?)");
  return read_header(f, path, static_cast<std::size_t>(size));
}

// Calls fn(bytes, first_index, n) on consecutive chunks of the data, 1 MiB at a time.
template <class Fn>
void for_each_chunk(std::ifstream& f, const std::string& path, const NpyHeader& h, Fn&& fn) {
  const std::size_t per = (std::size_t{1} << 20) / h.dtype.size;
  std::vector<unsigned char> buf(std::min(per, h.count) * h.dtype.size);
  for (std::size_t i = 0; i < h.count; i += per) {
    const std::size_t n = std::min(per, h.count - i);
    if (!f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n * h.dtype.size))) {
      fail(path, "read error (did the file change while it was read?)");
    }
    fn(buf.data(), i, n);
  }
}

template <class T>
T load(const unsigned char* p, bool swap) {
  unsigned char b[sizeof(T)];
  if (swap) {
    std::reverse_copy(p, p + sizeof(T), b);
  } else {
    std::memcpy(b, p, sizeof(T));
  }
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

template <class T, class Out>
void convert(const unsigned char* src, std::size_t n, bool swap, Out* dst) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load<T>(src + i * sizeof(T), swap));
}

// Out = double for every dtype; Out = int64 only for integer dtypes other than '<u8'.
template <class Out>
void convert_any(const Dtype& t, const unsigned char* src, std::size_t n, Out* dst) {
  const int code = t.kind * 16 + static_cast<int>(t.size);
  switch (code) {
    case 'f' * 16 + 4: return convert<float>(src, n, t.swap, dst);
    case 'f' * 16 + 8: return convert<double>(src, n, t.swap, dst);
    case 'i' * 16 + 1: return convert<std::int8_t>(src, n, t.swap, dst);
    case 'i' * 16 + 2: return convert<std::int16_t>(src, n, t.swap, dst);
    case 'i' * 16 + 4: return convert<std::int32_t>(src, n, t.swap, dst);
    case 'i' * 16 + 8: return convert<std::int64_t>(src, n, t.swap, dst);
    case 'u' * 16 + 1: return convert<std::uint8_t>(src, n, t.swap, dst);
    case 'u' * 16 + 2: return convert<std::uint16_t>(src, n, t.swap, dst);
    case 'u' * 16 + 4: return convert<std::uint32_t>(src, n, t.swap, dst);
    default: return convert<std::uint64_t>(src, n, t.swap, dst);
  }
}

std::string nonfinite_name(double v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

std::vector<double> read_doubles(std::ifstream& f, const std::string& path, const NpyHeader& h) {
  detail::require_memory(static_cast<double>(h.count) * sizeof(double), path);
  std::vector<double> out(h.count);
  for_each_chunk(f, path, h, [&](const unsigned char* b, std::size_t first, std::size_t n) {
    convert_any(h.dtype, b, n, out.data() + first);
  });
  if (h.dtype.kind == 'f') {
    const auto it = std::find_if(out.begin(), out.end(), [](double v) { return !std::isfinite(v); });
    if (it != out.end()) {
      const auto i = static_cast<std::size_t>(it - out.begin());
      fail(path, "non-finite value (" + nonfinite_name(*it) + ") at row " + std::to_string(i / h.cols()) +
                     ", column " + std::to_string(i % h.cols()));
    }
  }
  return out;
}

void write_raw(const std::string& path, const char* descr, const void* data, std::size_t rows,
               std::size_t cols, std::size_t itemsize) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(path, "cannot create file (" + std::string(std::strerror(errno)) + ")");
  f << npy_header(descr, "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
  if (rows * cols > 0) f.write(static_cast<const char*>(data), static_cast<std::streamsize>(rows * cols * itemsize));
  f.close();
  if (!f) fail(path, "write failed");
}

}  // namespace

std::string npy_header(const char* descr, const std::string& shape) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // As numpy does: pad with spaces so the data starts at a multiple of 64 bytes.
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  const unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(dict.size() & 0xff),
                                    static_cast<unsigned char>(dict.size() >> 8)};
  return std::string(reinterpret_cast<const char*>(prefix), sizeof prefix) + dict;
}

Matrix read_npy(const std::string& path) {
  std::ifstream f;
  const NpyHeader h = open_npy(f, path);
  Matrix m;
  m.rows = h.rows(), m.cols = h.cols();
  m.values = read_doubles(f, path, h);
  return m;
}

Matrix map_npy(const std::string& path) {
  std::ifstream f;
  const NpyHeader h = open_npy(f, path);
  const auto offset = static_cast<std::size_t>(f.tellg());
  Matrix m;
  m.rows = h.rows(), m.cols = h.cols();
  const bool in_place = h.dtype.kind == 'f' && h.dtype.size == 8 && !h.dtype.swap && offset % alignof(double) == 0;
  const int fd = in_place ? ::open(path.c_str(), O_RDONLY | O_CLOEXEC) : -1;
  const std::size_t bytes = offset + h.count * sizeof(double);
  void* p = fd >= 0 ? ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (fd >= 0) ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) {      // not float64, or no mmap here: read and convert
    m.values = read_doubles(f, path, h);
    return m;
  }
  // Mapped pages cost no memory, but every estimator packs the centres to float32: refuse
  // here, before touching the pages, what cannot fit even so.
  try {
    detail::require_memory(static_cast<double>(h.count) * sizeof(float), path + " (as float32 centres)");
  } catch (...) {
    ::munmap(p, bytes);
    throw;
  }
  ::madvise(p, bytes, MADV_SEQUENTIAL);
  const auto* data = reinterpret_cast<const double*>(static_cast<const char*>(p) + offset);
  m.mapped = std::shared_ptr<const double>(data, [p, bytes](const double*) { ::munmap(p, bytes); });
  const double* bad = std::find_if(data, data + h.count, [](double v) { return !std::isfinite(v); });
  if (bad != data + h.count) {
    const auto i = static_cast<std::size_t>(bad - data);
    fail(path, "non-finite value (" + nonfinite_name(*bad) + ") at row " + std::to_string(i / h.cols()) +
                   ", column " + std::to_string(i % h.cols()));
  }
  return m;
}

std::vector<std::int64_t> internal::read_npy_integers_file(const std::string& path) {
  std::ifstream f;
  const NpyHeader h = open_npy(f, path);
  if (h.cols() != 1) fail(path, "expected a 1-D array of labels, got shape " + shape_text(h.shape));
  if (h.dtype.kind == 'f') {
    const std::vector<double> v = read_doubles(f, path, h);
    std::vector<std::int64_t> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      // Beyond 2^53 a double no longer tells which integer was meant.
      if (v[i] != std::floor(v[i]) || std::abs(v[i]) > 9007199254740992.0) {
        fail(path, "label " + std::to_string(v[i]) + " at index " + std::to_string(i) + " is not an integer");
      }
      out[i] = static_cast<std::int64_t>(v[i]);
    }
    return out;
  }
  detail::require_memory(static_cast<double>(h.count) * sizeof(std::int64_t), path);
  std::vector<std::int64_t> out(h.count);
  const bool u64 = h.dtype.kind == 'u' && h.dtype.size == 8;
  for_each_chunk(f, path, h, [&](const unsigned char* b, std::size_t first, std::size_t n) {
    if (!u64) return convert_any(h.dtype, b, n, out.data() + first);
    for (std::size_t j = 0; j < n; ++j) {
      const auto u = load<std::uint64_t>(b + 8 * j, h.dtype.swap);
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(path, "label " + std::to_string(u) + " at index " + std::to_string(first + j) + " is too large");
      }
      out[first + j] = static_cast<std::int64_t>(u);
    }
  });
  return out;
}

void write_npy(const std::string& path, MatrixView<double> m) {
  write_raw(path, "<f8", m.data, m.rows, m.cols, 8);
}

void write_npy(const std::string& path, const float* data, std::size_t rows, std::size_t cols) {
  write_raw(path, "<f4", data, rows, cols, 4);
}

}  // namespace infoflow::io
