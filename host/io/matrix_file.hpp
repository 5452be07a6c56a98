// Reading centres, inputs and labels from .npy and .csv files. Every error is an
// infoflow::IoError whose one-line message starts with the path, then ": ", then the
// problem; the one exception is a valid file too large for the available memory, which
// is a ResourceError (refused before allocating).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow::io {

struct Matrix {  // owning row-major float64 matrix
  std::vector<double> values;
  std::size_t rows = 0, cols = 0;
  // Set by map_matrix when the file's own bytes are used in place (values is then empty).
  std::shared_ptr<const double> mapped;
  MatrixView<double> view() const { return {mapped ? mapped.get() : values.data(), rows, cols}; }
};

// .npy format 1.0/2.0/3.0, C order. dtypes: float32/float64 and 8- to 64-bit signed or
// unsigned integers, either byte order (big-endian data is byte-swapped). Shape (n, d)
// gives n x d, (n,) gives n x 1. Rejects 0-D and >2-D arrays, Fortran order, empty
// arrays, a data size that differs from the header's, and NaN/inf values.
Matrix read_npy(const std::string& path);
Matrix map_npy(const std::string& path);  // see map_matrix

// Comma-separated numbers (spaces around them allowed), one row per line. The first
// non-blank, non-comment line is a header, and skipped, only when none of its fields is a
// number; otherwise it is data, and every field of every data row must be a number (the
// error names line and column). Blank lines and lines starting with '#' are skipped; \n,
// \r\n and lone \r line ends and a UTF-8 byte order mark are accepted. Rejects ragged
// rows, NaN/inf, NUL bytes and files without data.
Matrix read_csv(const std::string& path);

// By content: the .npy magic (or a .npy extension) reads as .npy; a .csv/.txt extension
// or text content reads as CSV; anything else is "not a .npy or .csv file". A FIFO or a
// pipe (/dev/stdin) is read once, into memory, and then as a file of those bytes.
Matrix read_matrix(const std::string& path);

// As read_matrix, but a little-endian float64 .npy is memory-mapped read-only and used in
// place (checked for NaN/inf, never copied): big centre files cost no second float64 copy,
// and the ranks of an MPI job on one node share its pages through the page cache. Other
// files are read as by read_matrix. The file must not be truncated while the Matrix lives.
Matrix map_matrix(const std::string& path);

// 1-D labels, shape (n,) or (n, 1): any integer dtype, or floats holding exact integers
// (|v| <= 2^53). Values are exact: int64/uint64 data never goes through double.
std::vector<std::int64_t> read_npy_integers(const std::string& path);

// Format 1.0, C order, shape (rows, cols); for tests and tools.
void write_npy(const std::string& path, MatrixView<double> m);  // '<f8'
void write_npy(const std::string& path, const float* data, std::size_t rows, std::size_t cols);  // '<f4'
// The bytes before an .npy file's data (version 1.0, C order): descr such as "<f8", shape a
// Python tuple such as "(3, 2)" or "(5,)"; padded as numpy pads, so the data starts at a
// multiple of 64 bytes.
std::string npy_header(const char* descr, const std::string& shape);

namespace internal {
// Opens `path` for binary reading; IoError "PATH: cannot open file (reason)" or
// "PATH: is a directory" otherwise.
std::ifstream open_for_reading(const std::string& path);
[[noreturn]] void fail(const std::string& path, const std::string& problem);  // IoError
std::vector<std::int64_t> read_npy_integers_file(const std::string& path);  // read_npy_integers of a regular file

// Whether `path` is a FIFO, a pipe, a character device: bytes that can be read only once.
bool is_stream(const std::string& path);

// The readers look at a file twice (its first bytes, then all of it) and map .npy files;
// a FIFO, a pipe (/dev/stdin) or a character device gives its bytes once. Such an input
// is copied into an anonymous in-memory file, after `check_head` has seen its first 4096
// bytes (and thrown for content the reader cannot read, so /dev/zero or /dev/urandom fail
// at once instead of filling memory); read() runs a reader on the copy, and the messages
// it throws name the path given.
class StreamCopy {
 public:
  StreamCopy(const std::string& path, const std::function<void(const std::string&)>& check_head);
  ~StreamCopy();
  StreamCopy(const StreamCopy&) = delete;
  StreamCopy& operator=(const StreamCopy&) = delete;
  const std::string& head() const { return head_; }
  template <class F>
  auto read(F&& reader) const {
    try {
      return reader(copy_path_);
    } catch (const IoError& e) {
      throw IoError(renamed(e.what()));
    } catch (const ResourceError& e) {
      throw ResourceError(renamed(e.what()));
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(renamed(e.what()));
    }
  }

 private:
  static constexpr std::size_t kHead = 4096;
  std::string renamed(std::string message) const;
  void copy(int in, const std::function<void(const std::string&)>& check_head);
  std::string path_, copy_path_, head_;
  int fd_ = -1;
};
}  // namespace internal

}  // namespace infoflow::io
