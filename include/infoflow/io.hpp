// Reading and writing the matrices infoflow works on: centres, inputs and labels from
// .npy and .csv files, and result vectors written so that no reader sees half a file.
// Every error is an infoflow::IoError whose one-line message starts with the path, then
// ": ", then the problem; the one exception is a valid file too large for the available
// memory, which is a ResourceError (refused before allocating).
#pragma once

#include <cstddef>
#include <cstdint>
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

// Result files written by the commands (log-density --output): never half-written where a
// reader may look, and never replacing anything but a regular file.
enum class OutputFormat { Npy, Csv };

// By the name: .csv and .txt get text, one value per line; .npy or no extension (a device
// such as /dev/stdout) gets .npy bytes; any other extension is refused (IoError), so a
// name never promises one format and holds another.
OutputFormat output_format(const std::string& path);

// Refuses, before any long work, a target that cannot be written as write_output_file
// would: a directory, a block device, a socket, a dangling symbolic link, a missing
// parent directory (IoError naming the path and the problem).
void check_output_path(const std::string& path);

// - no file, or a regular file: written to a temporary file in the same directory and
//   renamed over the name, so a reader sees the old file or the whole new one;
// - a symbolic link: the same for the file it points to (the link stays a link);
// - a character device or a FIFO (/dev/null, /dev/stdout, a named pipe): written straight
//   into it, every write checked (/dev/full fails with "No space left on device");
// - anything else: refused as check_output_path refuses it.
void write_output_file(const std::string& path, const std::string& bytes);

// A vector of m float64 values in the format output_format(path) names: .npy of shape
// (m,), or text with one value per line at full precision (%.17g).
std::string encode_vector(const std::string& path, const double* values, std::size_t m);

}  // namespace infoflow::io
