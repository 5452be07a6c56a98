#include "cli/run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMarker = ".infoflow-run";

std::string errno_text() { return std::strerror(errno); }

// Every entry below `dir`, relative to it, without following symbolic links.
std::vector<fs::path> entries_below(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec)) {
    out.push_back(it->path().lexically_relative(dir));
  }
  if (ec) throw IoError(dir.string() + ": cannot list (" + ec.message() + ")");
  return out;
}

// fsync(2) on a file or directory; false (errno set) when it fails. A filesystem that
// cannot sync a directory (EINVAL) has nothing to flush there, which is not a failure.
bool sync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0 || (directory && errno == EINVAL);
  const int e = errno;
  ::close(fd);
  errno = e;
  return ok;
}

// Flushes every file and directory of the finished run to disk before it is renamed into
// place. Without it a crash or power loss soon after the rename can leave D naming files
// whose data never reached the disk (empty or short), and the previous run already gone:
// the rename is atomic for the names only. Returns the path that failed, or empty.
fs::path sync_tree(const fs::path& dir) {
  for (const fs::path& rel : entries_below(dir)) {
    const fs::path p = dir / rel;
    const fs::file_status st = fs::symlink_status(p);
    if (fs::is_symlink(st)) continue;
    if (!sync_path(p, fs::is_directory(st))) return p;
  }
  return sync_path(dir, true) ? fs::path() : dir;
}

std::set<std::string> marker_files(const fs::path& dir, bool* valid) {
  *valid = false;
  std::set<std::string> files;
  std::ifstream f(dir / kMarker);
  if (!f) return files;
  try {
    const auto j = nlohmann::json::parse(f);
    if (j.value("infoflow_run", 0) != 1 || !j.contains("files") || !j["files"].is_array()) return files;
    for (const auto& name : j["files"]) files.insert(name.get<std::string>());
  } catch (const std::exception&) {
    return files;
  }
  *valid = true;
  return files;
}

// Runs written before the marker existed: run.json names infoflow, and the files follow
// train's fixed layout; or an interrupted one of those, which left metrics.csv.partial
// (every file is then still checked against the layout before --force replaces it).
bool is_legacy_run(const fs::path& dir) {
  if (fs::is_regular_file(dir / "metrics.csv.partial") && !fs::exists(dir / "run.json")) return true;
  std::ifstream f(dir / "run.json");
  if (!f) return false;
  try {
    const auto j = nlohmann::json::parse(f);
    return j.is_object() && j.contains("infoflow_version") && fs::is_regular_file(dir / "metrics.csv");
  } catch (const std::exception&) {
    return false;
  }
}

bool legacy_layout_file(const std::string& rel) {
  static const std::regex re(
      "(metrics\\.csv|history\\.csv|run\\.json|inputs\\.npy|labels\\.npy|test_mask\\.npy)(\\.partial)?"
      "|checkpoints/epoch_[0-9]+\\.safetensors(\\.partial)?|representations/epoch_[0-9]+_layer[0-9]+\\.npy");
  return std::regex_match(rel, re);
}

// What `infoflow plot` writes into a run (python/infoflow/plot_run.py).
bool plot_figure(const std::string& rel) {
  static const std::regex re(
      "figures/(information_flow|information_plane|clustering|training|representations)\\.(png|svg|pdf)");
  return std::regex_match(rel, re);
}

struct Inspection {
  enum Kind { Absent, Empty, Run } kind = Absent;
  std::set<std::string> ours;  // a Run's files infoflow wrote (relative paths)
};

std::string list_some(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 3; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > 3) s += " and " + std::to_string(v.size() - 3) + " more";
  return s;
}

// Decides what D is and whether this run may replace it; throws InvalidArgument if not.
Inspection inspect(const fs::path& target, const std::string& out, bool force) {
  Inspection r;
  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0) {
    if (errno == ENOENT) return r;
    throw IoError("--out " + out + ": " + errno_text());
  }
  if (!S_ISDIR(st.st_mode)) throw InvalidArgument("--out " + out + " exists and is not a directory");
  const std::vector<fs::path> all = entries_below(target);
  if (all.empty()) {
    r.kind = Inspection::Empty;
    return r;
  }
  bool valid = false;
  std::set<std::string> listed = marker_files(target, &valid);
  const bool legacy = !valid && is_legacy_run(target);
  if (!valid && !legacy) {
    throw InvalidArgument("--out " + out + " is not empty and is not an infoflow run (it holds " +
                          all.front().string() + (all.size() > 1 ? ", ..." : "") +
                          "); train writes a new run only into a new or empty directory" +
                          (force ? " (--force replaces only an earlier infoflow run)" : ""));
  }
  if (!force) {
    throw InvalidArgument("--out " + out + " already holds an infoflow run; choose another directory or pass --force to replace it");
  }
  std::vector<std::string> foreign;
  for (const fs::path& p : all) {
    const std::string rel = p.generic_string();
    if (fs::is_directory(fs::symlink_status(target / p))) continue;  // emptied and removed if they end up empty
    const bool ours = rel == kMarker || listed.count(rel) || plot_figure(rel) || (legacy && legacy_layout_file(rel));
    if (ours) r.ours.insert(rel);
    else foreign.push_back(rel);
  }
  if (!foreign.empty()) {
    throw InvalidArgument("--out " + out + " holds files infoflow did not write (" + list_some(foreign) +
                          "); --force replaces only infoflow's own files: move them elsewhere first");
  }
  r.kind = Inspection::Run;
  return r;
}

// Removes the files of a replaced run that infoflow wrote, then its directories that are
// left empty; anything else stays where it is.
bool remove_own_files(const fs::path& dir, const std::set<std::string>& ours) {
  std::error_code ec;
  for (const std::string& rel : ours) fs::remove(dir / rel, ec);
  std::vector<fs::path> dirs;
  for (const fs::path& p : entries_below(dir)) {
    if (fs::is_directory(fs::symlink_status(dir / p))) dirs.push_back(dir / p);
  }
  std::sort(dirs.rbegin(), dirs.rend());  // children before parents
  for (const fs::path& d : dirs) ::rmdir(d.c_str());
  return ::rmdir(dir.c_str()) == 0;
}

fs::path resolve_target(const std::string& out) {
  if (out.empty()) throw InvalidArgument("--out is empty");
  fs::path p(out);
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(p, ec))) {
    // A link to a run directory (on another disk, say): the run replaces its target.
    const fs::path t = fs::canonical(p, ec);
    if (ec) throw InvalidArgument("--out " + out + " is a symbolic link to nothing (" + ec.message() + ")");
    p = t;
  } else {
    p = fs::absolute(p, ec).lexically_normal();
  }
  if (!p.has_filename()) p = p.parent_path();
  if (p.filename() == "." || p.filename() == ".." || p == p.root_path()) {
    throw InvalidArgument("--out " + out + ": give a directory by name (a run replaces the whole directory)");
  }
  // The run replaces D by a rename: the current directory (or one above it) would leave
  // this shell in a directory that no longer has a name.
  const fs::path cwd = fs::current_path(ec);
  if (!ec) {
    const fs::path rel = cwd.lexically_relative(p);
    if (!rel.empty() && *rel.begin() != "..") {
      throw InvalidArgument("--out " + out + " is the current directory or holds it; run from outside it");
    }
  }
  return p;
}

}  // namespace

RunTransaction::RunTransaction(const std::string& out, bool force) : out_(out), force_(force) {
  target_ = resolve_target(out);
  inspect(target_, out_, force_);  // refuse before writing anything, even the lock
  const fs::path parent = target_.parent_path();
  const std::string name = target_.filename().string();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw IoError("--out " + out_ + ": cannot create " + parent.string() + " (" + ec.message() + ")");
  lock_path_ = parent / ("." + name + ".infoflow-lock");
  // The lock file is unlinked by its holder when done; a run that locked an unlinked
  // file took the lock of no one, so it checks the path still names what it locked.
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw IoError(lock_path_.string() + ": cannot create the lock file (" + errno_text() + ")");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      const std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
      throw InvalidArgument("--out " + out_ + " is being written by another infoflow train (pid " + pid +
                            "); wait for it to finish or choose another directory");
    }
    struct stat a {}, b {};
    if (::fstat(fd, &a) == 0 && ::stat(lock_path_.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      lock_fd_ = fd;
      break;
    }
    ::close(fd);
    if (attempt > 100) throw IoError(lock_path_.string() + ": cannot take the lock");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // Only the message of a refused second run loses its pid.
  }
  try {
    inspect(target_, out_, force_);  // D may have changed before the lock was ours
    // Left by runs that were killed outright; the lock says none of them is running.
    const std::string stale_staging = "." + name + ".infoflow-staging-", stale_prev = "." + name + ".infoflow-previous-";
    for (const auto& e : fs::directory_iterator(parent, ec)) {
      const std::string f = e.path().filename().string();
      if (f.rfind(stale_staging, 0) == 0 || f.rfind(stale_prev, 0) == 0) fs::remove_all(e.path(), ec);
    }
    staging_ = parent / (stale_staging + pid);
    fs::create_directory(staging_, ec);
    if (ec) throw IoError(staging_.string() + ": cannot create the staging directory (" + ec.message() + ")");
  } catch (...) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
}

RunTransaction::~RunTransaction() {
  if (!committed_ && !staging_.empty()) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
  if (lock_fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
  }
}

// The rename itself is durable only once the directory holding D is flushed. The run is in
// place by now, so a failure here is a warning, not an error.
void RunTransaction::sync_parent() const {
  const fs::path parent = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
  if (!sync_path(parent, true)) {
    std::fprintf(stderr, "infoflow: warning: cannot flush %s to disk (%s); the run is in place\n", parent.c_str(),
                 errno_text().c_str());
  }
}

void RunTransaction::commit() {
  std::vector<std::string> files;
  for (const fs::path& p : entries_below(staging_)) {
    if (fs::is_regular_file(fs::symlink_status(staging_ / p))) files.push_back(p.generic_string());
  }
  {
    std::ofstream f(staging_ / kMarker);
    f << nlohmann::json{{"infoflow_run", 1}, {"infoflow_version", std::string(version())}, {"files", files}}.dump(1) << '\n';
    if (!f) throw IoError((staging_ / kMarker).string() + ": write failed");
  }
  // From here a failure keeps the finished run in the staging directory and says where.
  auto keep = [this](const std::string& why) {
    committed_ = true;
    throw IoError("--out " + out_ + ": " + why + "; the finished run is kept in " + staging_.string());
  };
  if (const fs::path failed = sync_tree(staging_); !failed.empty()) {
    keep("cannot flush " + failed.string() + " to disk (" + errno_text() + ")");
  }
  Inspection now;
  try {
    now = inspect(target_, out_, force_);
  } catch (const Error& e) {
    keep(std::string("changed during the run: ") + e.what());
  }
  if (now.kind != Inspection::Run) {
    // rename(2) replaces an empty directory in one step.
    if (::rename(staging_.c_str(), target_.c_str()) != 0) keep("cannot rename the run into place (" + errno_text() + ")");
    committed_ = true;
    sync_parent();
    return;
  }
  // Swap both names in one step, so D is never missing; the old run ends up at staging_.
  fs::path old = staging_;
  if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS) keep("cannot swap the run into place (" + errno_text() + ")");
    // Filesystems without RENAME_EXCHANGE: D is missing between the two renames.
    old = target_.parent_path() / ("." + target_.filename().string() + ".infoflow-previous-" + std::to_string(::getpid()));
    if (::rename(target_.c_str(), old.c_str()) != 0) keep("cannot move the previous run aside (" + errno_text() + ")");
    if (::rename(staging_.c_str(), target_.c_str()) != 0) {
      const int e = errno;
      ::rename(old.c_str(), target_.c_str());
      errno = e;
      keep("cannot rename the run into place (" + errno_text() + ")");
    }
  }
  committed_ = true;
  sync_parent();
  if (!remove_own_files(old, now.ours)) {
    std::fprintf(stderr, "infoflow: the previous run's own files are removed; %s keeps the files infoflow did not write\n",
                 old.c_str());
  }
}

}  // namespace infoflow::cli
