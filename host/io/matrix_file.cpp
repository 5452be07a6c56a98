// Opening files and choosing the reader by content.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/matrix_file.hpp"

namespace infoflow::io {

namespace internal {

void fail(const std::string& path, const std::string& problem) { throw IoError(path + ": " + problem); }

std::ifstream open_for_reading(const std::string& path) {
  // A directory opens as a stream on Linux and then reads as an empty file; say what it is.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory");
  errno = 0;
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open file (" + std::string(errno ? std::strerror(errno) : "unknown error") + ")");
  return f;
}

}  // namespace internal

namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// Text: no control characters other than whitespace. Bytes >= 0x80 pass (UTF-8).
bool looks_like_text(const std::string& head) {
  return std::none_of(head.begin(), head.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && !std::isspace(c)) || c == 0x7f;
  });
}

// By content, as read_matrix documents; .npy files go to read_npy_file.
Matrix read_by_content(const std::string& path, Matrix (*read_npy_file)(const std::string&)) {
  std::string head(4096, '\0');
  {
    std::ifstream f = internal::open_for_reading(path);
    f.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(f.gcount()));
  }
  const std::string ext = lower_extension(path);
  // A .npy name without the magic goes to read_npy too, which then says "bad magic".
  if (head.compare(0, 6, "\x93NUMPY") == 0 || ext == ".npy") return read_npy_file(path);
  if (ext == ".csv" || ext == ".txt" || looks_like_text(head)) return read_csv(path);
  internal::fail(path, "not a .npy or .csv file (binary content without the .npy magic)");
}

}  // namespace

Matrix read_matrix(const std::string& path) { return read_by_content(path, read_npy); }

Matrix map_matrix(const std::string& path) { return read_by_content(path, map_npy); }

}  // namespace infoflow::io
