// The CLI's MPI side (built when INFOFLOW_ENABLE_MPI): joins the MPI job when started by
// mpirun/srun, hands the library a Communicator, and makes errors collective so that a
// failure on any rank ends every rank with one message and one exit code.
#pragma once

#include <memory>
#include <string>

#include "infoflow/infoflow.hpp"

namespace infoflow::cli {

class MpiSession {
 public:
  // Initialises MPI only when the environment says this process is one rank of a job
  // (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK, SLURM_STEP_NUM_TASKS...); a plain run
  // stays a plain run. Also picks this rank's GPU (local rank mod device count) and
  // its CPU threads (cores / ranks on the node) unless told otherwise.
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return comm_ != nullptr; }
  int rank() const;
  int size() const;
  const Communicator* communicator() const { return comm_.get(); }
  int default_threads() const { return threads_; }  // 0: all cores (one rank per node)
  bool is_root() const { return rank() == 0; }  // the rank that prints results and progress
  // Hands the estimators this job's communicator, and the rank's share of the cores when
  // the user did not choose a thread count.
  void configure(ComputeOptions& c) const {
    c.comm = communicator();
    if (c.threads == 0) c.threads = threads_;
  }

  // Collective: every rank states whether it failed (code != 0). Returns the exit code
  // of the lowest failing rank (0 if none); that rank alone prints its message.
  int agree(int code, const std::string& message) const;

  // Collective, after a command has read and checked its inputs: if any rank failed before
  // (and called agree from main's error handler), throws CollectiveFailure with its code.
  // Errors after this point are not symmetric any more and end the job with abort().
  void checkpoint();
  bool past_checkpoint() const { return past_checkpoint_; }
  // Prints the error with this rank's number and ends every rank (MPI_Abort) with `code`.
  [[noreturn]] void abort(int code, const std::string& message) const;

 private:
  std::unique_ptr<Communicator> comm_;
  int threads_ = 0;
  bool past_checkpoint_ = false;
};

// Thrown on the healthy ranks when another rank failed before the checkpoint: exit with
// `code`, the failing rank has printed the message.
struct CollectiveFailure {
  int code;
};

}  // namespace infoflow::cli
