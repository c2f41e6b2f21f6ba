#include "amber/storage/file_lock.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

namespace amber {

namespace {

struct flock whole_file(short type) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fl; // l_start = l_len = 0: the whole file; l_pid must be 0 for OFD locks.
}

} // namespace

std::string file_lock::self_description() {
  // Cached per process id: a forked child is another holder.
  static std::mutex mutex;
  static pid_t cached_pid = 0;
  static std::string cached;
  std::lock_guard<std::mutex> guard(mutex);
  if (cached_pid == ::getpid())
    return cached;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string cmd{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  while (!cmd.empty() && cmd.back() == ' ')
    cmd.pop_back();
  if (cmd.size() > 200)
    cmd = cmd.substr(0, 197) + "...";
  cached_pid = ::getpid();
  cached = "pid " + std::to_string(cached_pid) + (cmd.empty() ? "" : ": " + cmd);
  return cached;
}

result<std::unique_ptr<file_lock>> file_lock::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return status::io_error("cannot open the lock file " + path + ": " + std::strerror(errno));
  return std::unique_ptr<file_lock>(new file_lock(fd, path));
}

file_lock::~file_lock() {
  ::close(fd_); // Releases an OFD lock held through it.
}

bool file_lock::try_lock() {
  struct flock fl = whole_file(F_WRLCK);
  if (::fcntl(fd_, F_OFD_SETLK, &fl) != 0)
    return false;
  held_ = true;
  // Best effort: the description only serves messages of waiting processes.
  const std::string me = self_description();
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
  }
  return true;
}

status file_lock::lock(std::chrono::milliseconds timeout, const wait_fn& on_wait) {
  if (held_)
    return status::ok();
  if (try_lock())
    return status::ok();
  if (errno != EAGAIN && errno != EACCES)
    return status::io_error("cannot lock " + path_ + ": " + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool told = false;
  auto pause = std::chrono::milliseconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!told && on_wait) {
      on_wait(holder());
      told = true;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
    if (try_lock())
      return status::ok();
  }
  return status(errc::busy, path_ + " is locked by " + holder());
}

void file_lock::unlock() {
  if (!held_)
    return;
  struct flock fl = whole_file(F_UNLCK);
  ::fcntl(fd_, F_OFD_SETLK, &fl);
  held_ = false;
}

std::string file_lock::holder() const {
  char buf[256];
  ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return "another process (unknown)";
  return std::string(buf, static_cast<size_t>(n));
}

} // namespace amber
