#include "infoflow/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "infoflow/infoflow.hpp"
#include "io/matrix_file.hpp"

namespace infoflow::io {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& path, const std::string& problem) { throw IoError(path + ": " + problem); }

std::string errno_text() { return std::strerror(errno); }

enum class Target { Replace, Stream };

// Where the bytes go: `real` is the file to replace (the link's target for a link).
Target classify(const std::string& path, std::string& real) {
  if (path.empty()) fail("--output", "empty file name");
  real = path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    std::error_code ec;
    const fs::path t = fs::canonical(path, ec);  // fails for a dangling or looping link
    if (ec) fail(path, "is a symbolic link to nothing that can be written (" + ec.message() + ")");
    real = t.string();
  }
  if (::stat(real.c_str(), &st) != 0) {
    if (errno != ENOENT) fail(path, errno_text());
    const fs::path parent = fs::path(real).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::is_directory(parent, ec)) fail(path, "no such directory " + parent.string());
    return Target::Replace;
  }
  if (S_ISREG(st.st_mode)) {
    // A rename would replace a file its owner made read-only; writing in place would not.
    if (::access(real.c_str(), W_OK) != 0) fail(path, "is not writable (" + errno_text() + ")");
    return Target::Replace;
  }
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return Target::Stream;
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory; give a file name");
  fail(path, std::string("is a ") + (S_ISBLK(st.st_mode) ? "block device" : S_ISSOCK(st.st_mode) ? "socket" : "special file") +
                 ", not a file infoflow writes results into");
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(path, "write failed (" + errno_text() + ")");
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

OutputFormat output_format(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".csv" || ext == ".txt") return OutputFormat::Csv;
  if (ext == ".npy" || ext.empty()) return OutputFormat::Npy;
  fail(path, "unknown output format '" + ext + "' (name the file .npy or .csv)");
}

void check_output_path(const std::string& path) {
  std::string real;
  classify(path, real);
  output_format(path);
}

void write_output_file(const std::string& path, const std::string& bytes) {
  std::string real;
  if (classify(path, real) == Target::Stream) {
    const int fd = ::open(real.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) fail(path, "cannot open for writing (" + errno_text() + ")");
    try {
      write_all(fd, bytes, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (::close(fd) != 0) fail(path, "write failed (" + errno_text() + ")");
    return;
  }
  const fs::path target(real);
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".infoflow-tmp-" + std::to_string(::getpid()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create a temporary file beside it (" + errno_text() + ")");
  try {
    write_all(fd, bytes, path);
    if (::fsync(fd) != 0) fail(path, "write failed (" + errno_text() + ")");
    if (::close(fd) != 0) fail(path, "write failed (" + errno_text() + ")");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // An existing file keeps its permission bits (the temporary file has the defaults).
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) ::chmod(tmp.c_str(), st.st_mode & 07777);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    fail(path, "cannot replace (" + why + ")");
  }
}

std::string encode_vector(const std::string& path, const double* values, std::size_t m) {
  std::string out;
  if (output_format(path) == OutputFormat::Csv) {
    char buf[32];
    for (std::size_t i = 0; i < m; ++i) {
      const int n = std::snprintf(buf, sizeof buf, "%.17g\n", values[i]);
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  out = npy_header("<f8", "(" + std::to_string(m) + ",)");
  out.append(reinterpret_cast<const char*>(values), m * sizeof(double));  // little-endian hosts only, as write_npy
  return out;
}

}  // namespace infoflow::io
