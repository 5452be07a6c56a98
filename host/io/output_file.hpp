// Result files written by the commands (log-density --output): never half-written where a
// reader may look, and never replacing anything but a regular file.
#pragma once

#include <cstddef>
#include <string>

namespace infoflow::io {

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
