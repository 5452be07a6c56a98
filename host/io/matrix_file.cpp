// Opening files and choosing the reader by content.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/matrix_file.hpp"
#include "host_memory.hpp"

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

bool is_stream(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

StreamCopy::StreamCopy(const std::string& path, const std::function<void(const std::string&)>& check_head)
    : path_(path) {
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail(path, "cannot open file (" + std::string(std::strerror(errno)) + ")");
  fd_ = ::memfd_create("infoflow-input", MFD_CLOEXEC);
  if (fd_ < 0) {
    ::close(in);
    throw ResourceError(path + ": cannot make an in-memory copy (" + std::strerror(errno) + ")");
  }
  try {
    copy(in, check_head);
  } catch (...) {
    ::close(in);
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  ::close(in);
  copy_path_ = "/proc/self/fd/" + std::to_string(fd_);
}

StreamCopy::~StreamCopy() {
  if (fd_ >= 0) ::close(fd_);
}

std::string StreamCopy::renamed(std::string m) const {
  for (std::size_t at; (at = m.find(copy_path_)) != std::string::npos;) m.replace(at, copy_path_.size(), path_);
  return m;
}

void StreamCopy::copy(int in, const std::function<void(const std::string&)>& check_head) {
  std::vector<char> buf(1 << 20);
  std::size_t total = 0;
  bool checked = false;
  const std::size_t avail = detail::available_memory_bytes();
  for (;;) {
    // The first reads stop at 4096 bytes, so the content is judged before the rest comes.
    const std::size_t want = total < kHead ? kHead - total : buf.size();
    const ssize_t n = ::read(in, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path_, "read error (" + std::string(std::strerror(errno)) + ")");
    if (n == 0) break;
    if (total < kHead) head_.append(buf.data(), static_cast<std::size_t>(n));
    total += static_cast<std::size_t>(n);
    if (!checked && head_.size() == kHead) check_head(head_), checked = true;
    if (avail != 0 && total > avail / 2) {
      throw ResourceError(path_ + ": the input stream is larger than half the available memory (" +
                          detail::gib(static_cast<double>(avail)) + ")");
    }
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(fd_, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw ResourceError(path_ + ": cannot keep the input in memory (" + std::strerror(errno) + ")");
      done += w;
    }
  }
  if (!checked) check_head(head_);
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

enum class Kind { Npy, Csv };

Kind kind_of(const std::string& path, const std::string& head) {
  const std::string ext = lower_extension(path);
  // A .npy name without the magic goes to read_npy too, which then says "bad magic".
  if (head.compare(0, 6, "\x93NUMPY") == 0 || ext == ".npy") return Kind::Npy;
  if (ext == ".csv" || ext == ".txt" || looks_like_text(head)) return Kind::Csv;
  internal::fail(path, "not a .npy or .csv file (binary content without the .npy magic)");
}


// By content, as read_matrix documents; .npy files go to read_npy_file.
Matrix read_by_content(const std::string& path, Matrix (*read_npy_file)(const std::string&)) {
  if (internal::is_stream(path)) {
    const internal::StreamCopy copy(path, [&](const std::string& head) {
      if (kind_of(path, head) == Kind::Csv && head.find('\0') != std::string::npos) {
        internal::fail(path, "not a text file (NUL byte in the first " + std::to_string(head.size()) + " bytes)");
      }
    });
    const Kind kind = kind_of(path, copy.head());
    return copy.read([&](const std::string& p) { return kind == Kind::Npy ? read_npy_file(p) : read_csv(p); });
  }
  std::string head(4096, '\0');
  {
    std::ifstream f = internal::open_for_reading(path);
    f.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(f.gcount()));
  }
  return kind_of(path, head) == Kind::Npy ? read_npy_file(path) : read_csv(path);
}

}  // namespace

Matrix read_matrix(const std::string& path) { return read_by_content(path, read_npy); }

Matrix map_matrix(const std::string& path) { return read_by_content(path, map_npy); }

std::vector<std::int64_t> read_npy_integers(const std::string& path) {
  if (internal::is_stream(path)) {
    const internal::StreamCopy copy(path, [](const std::string&) {});
    return copy.read([](const std::string& p) { return internal::read_npy_integers_file(p); });
  }
  return internal::read_npy_integers_file(path);
}

}  // namespace infoflow::io
