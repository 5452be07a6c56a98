// Internal helpers of the .npy and .csv readers and writers (the readers and writers
// themselves are public: infoflow/io.hpp).
#pragma once

#include <fstream>
#include <functional>
#include <string>

#include "infoflow/io.hpp"

namespace infoflow::io {

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
