// `train --out D` as a transaction: the run is written into a staging directory beside D
// and swapped in only when it completes, so D always holds either the previous run or
// the new one, whole.
//
// - A finished run is marked by D/.infoflow-run, which lists every file the run wrote.
// - Without --force, D must not exist or be empty. With --force, D may also be a finished
//   infoflow run, and then only when every file in it is one infoflow wrote (the marker's
//   list, or the figures of `infoflow plot`); a user's own file in D makes the run refuse
//   before writing anything, naming the file, instead of deleting it.
// - Two runs into one D: the second refuses at start (flock on D's lock file).
// - Interrupted or failed: the staging directory is removed; a process killed outright
//   leaves it, named .NAME.infoflow-staging-PID beside D, and the next run into D removes it.
// - Durable: every file and directory of the run is fsync'ed before the swap and D's parent
//   after it, so a power loss right after the swap cannot leave D naming empty files.
#pragma once

#include <filesystem>
#include <string>

namespace infoflow::cli {

class RunTransaction {
 public:
  // Checks D, takes its lock and creates the staging directory; throws InvalidArgument
  // (D unusable, another run holds it) or IoError before anything is written to D.
  RunTransaction(const std::string& out, bool force);
  ~RunTransaction();  // removes the staging directory unless committed; releases the lock
  RunTransaction(const RunTransaction&) = delete;
  RunTransaction& operator=(const RunTransaction&) = delete;

  const std::filesystem::path& staging() const { return staging_; }
  const std::filesystem::path& target() const { return target_; }
  // Writes the marker, flushes the run to disk (fsync of every file and directory) and
  // swaps the staging directory in as D; the previous run's own files are removed after
  // the swap.
  void commit();

 private:
  void sync_parent() const;
  std::string out_;                      // as given, for messages
  std::filesystem::path target_;         // D (symbolic links resolved)
  std::filesystem::path staging_, lock_path_;
  bool force_, committed_ = false;
  int lock_fd_ = -1;
};

}  // namespace infoflow::cli
