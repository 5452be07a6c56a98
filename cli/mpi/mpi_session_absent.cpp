// Builds without MPI: every run is one process.
#include <cstdio>
#include <cstdlib>

#include "cli/mpi/mpi_session.hpp"

namespace infoflow::cli {

MpiSession::MpiSession(int*, char***) {}
MpiSession::~MpiSession() = default;
int MpiSession::rank() const { return 0; }
int MpiSession::size() const { return 1; }
int MpiSession::agree(int code, const std::string& message) const {
  if (code != 0) std::fprintf(stderr, "infoflow: error: %s\n", message.c_str());
  return code;
}

void MpiSession::checkpoint() { past_checkpoint_ = true; }
void MpiSession::abort(int code, const std::string& message) const {
  std::fprintf(stderr, "infoflow: error: %s\n", message.c_str());
  std::exit(code);
}

}  // namespace infoflow::cli
