// Chooses the reader by content: the .npy magic, else text.
#include <cerrno>
#include <cstring>
#include <fstream>

#include "io/matrix_file.hpp"

namespace infoflow::io {

Matrix read_matrix(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(path + ": cannot open file (" + std::string(std::strerror(errno)) + ")");
  char head[512] = {};
  f.read(head, sizeof head);
  const auto got = static_cast<std::size_t>(f.gcount());
  if (got >= 6 && std::memcmp(head, "\x93NUMPY", 6) == 0) return read_npy(path);
  for (std::size_t i = 0; i < got; ++i) {
    const auto c = static_cast<unsigned char>(head[i]);
    if (c == 0 || (c < 32 && c != '\n' && c != '\r' && c != '\t')) {
      throw IoError(path + ": not a .npy or .csv file (binary content)");
    }
  }
  return read_csv(path);
}

}  // namespace infoflow::io
