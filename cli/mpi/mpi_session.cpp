#include "cli/mpi/mpi_session.hpp"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace infoflow::cli {
namespace {

class MpiCommunicator final : public Communicator {
 public:
  int rank() const override {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
  int size() const override {
    int s = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
  }
  void sum(double* values, std::size_t n) const override {
    // MPI counts are int: large reductions go in pieces.
    constexpr std::size_t kMax = std::size_t{1} << 30;
    for (std::size_t i = 0; i < n; i += kMax) {
      MPI_Allreduce(MPI_IN_PLACE, values + i, static_cast<int>(std::min(kMax, n - i)), MPI_DOUBLE, MPI_SUM,
                    MPI_COMM_WORLD);
    }
  }
};

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(v)) return true;
  }
  return false;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);  // MPI only from the main thread
  comm_ = std::make_unique<MpiCommunicator>();
  if (comm_->size() == 1) return;
  const int local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", env_int("MPI_LOCALRANKID", -1)));
  const int local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", env_int("SLURM_NTASKS_PER_NODE", -1));
  // One rank per visible GPU, round robin: whether the launcher left every GPU visible
  // (CUDA_VISIBLE_DEVICES unset, or set to the node's list for the whole job: ranks then
  // all sat on device 0) or gave each rank its own (one visible: every rank takes it).
  if (local_rank >= 0) {
    const int gpus = cuda_device_count();
    if (gpus > 0 && use_cuda_device(local_rank % gpus) && std::getenv("INFOFLOW_VERBOSE") != nullptr) {
      std::fprintf(stderr, "infoflow: rank %d (local %d): cuda device %d of %d visible\n", comm_->rank(), local_rank,
                   local_rank % gpus, gpus);
    }
  }
  if (local_size > 1) {
    threads_ = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local_size);
  }
}

MpiSession::~MpiSession() {
  if (comm_) MPI_Finalize();
}

int MpiSession::rank() const { return comm_ ? comm_->rank() : 0; }
int MpiSession::size() const { return comm_ ? comm_->size() : 1; }

int MpiSession::agree(int code, const std::string& message) const {
  if (!comm_) {
    if (code != 0) std::fprintf(stderr, "infoflow: error: %s\n", message.c_str());
    return code;
  }
  // (failed ? rank : size) reduced by MIN gives the lowest failing rank.
  int mine = code != 0 ? rank() : size(), lowest = 0;
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (lowest == size()) return 0;
  int lowest_code = code;
  MPI_Bcast(&lowest_code, 1, MPI_INT, lowest, MPI_COMM_WORLD);
  if (rank() == lowest) {
    std::fprintf(stderr, "infoflow: error%s: %s\n",
                 size() > 1 ? (" (rank " + std::to_string(lowest) + ")").c_str() : "", message.c_str());
  }
  return lowest_code;
}

void MpiSession::checkpoint() {
  const int code = agree(0, "");
  if (code != 0) throw CollectiveFailure{code};
  past_checkpoint_ = true;
}

void MpiSession::abort(int code, const std::string& message) const {
  std::fprintf(stderr, "infoflow: error (rank %d of %d): %s\n", rank(), size(), message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace infoflow::cli
