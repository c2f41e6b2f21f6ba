#pragma once

// An exclusive lock on a file that the kernel releases when its holder dies.
//
// Linux open-file-description locks (fcntl F_OFD_SETLK): held by one open
// of the file, so two holders in one process exclude each other as two
// processes do, and a process killed by any signal loses its locks at once.
// The holder writes a line about itself into the file ("pid 1234: amber run
// ..."), so that whoever finds the lock taken can say who has it.
//
// Ownership: the lock is held while the object lives.
// Thread-safety: one object is used by one thread at a time.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "amber/storage/status.hpp"

namespace amber {

class file_lock {
public:
  /// Called once when an acquisition has to wait, with who holds the lock.
  using wait_fn = std::function<void(const std::string& holder)>;

  /// Opens (creating, mode 0644) the lock file at `path` without locking it.
  /// @return io_error when it cannot be opened.
  static result<std::unique_ptr<file_lock>> open(const std::string& path);

  ~file_lock();
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

  /// Takes the lock, waiting at most `timeout` (0: do not wait); `on_wait`
  /// (may be empty) hears once that it waits and for whom.
  /// @return ok; busy, naming the holder, when it is still held after
  ///         `timeout`; io_error.
  status lock(std::chrono::milliseconds timeout, const wait_fn& on_wait = {});

  /// Releases the lock (no-op when not held).
  void unlock();

  /// Who holds the lock now, as its holder described itself (or "unknown").
  std::string holder() const;

  const std::string& path() const { return path_; }

  /// "pid <pid>: <this process's command line>", cut to 200 bytes.
  static std::string self_description();

private:
  file_lock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  bool try_lock();
  int fd_;
  std::string path_;
  bool held_ = false;
};

} // namespace amber
