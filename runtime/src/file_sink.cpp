#include "amber/runtime/file_sink.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace amber {

namespace {

status errno_status(const std::string& what) {
  return status::io_error(what + ": " + std::strerror(errno));
}

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace

result<std::shared_ptr<file_sink>> file_sink::open(std::string name, std::string path,
                                                   options opts) {
  std::shared_ptr<file_sink> sink(new file_sink(std::move(name), std::move(path), opts));
  auto& p = sink->path_;
  // Read the keys back; a last line without its newline was torn by a
  // crash before apply returned: cut it off (it is delivered again).
  uint64_t good = 0;
  {
    std::ifstream in(p, std::ios::binary);
    if (in) {
      std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t begin = 0;
      for (;;) {
        auto end = all.find('\n', begin);
        if (end == std::string::npos)
          break;
        auto line = std::string_view(all).substr(begin, end - begin);
        sink->keys_.emplace(line.substr(0, line.find('\t')));
        begin = end + 1;
      }
      good = begin;
    }
  }
  sink->fd_ = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (sink->fd_ < 0)
    return errno_status("opening effect file '" + p + "'");
  struct stat st {};
  if (::fstat(sink->fd_, &st) != 0)
    return errno_status("reading effect file '" + p + "'");
  if (static_cast<uint64_t>(st.st_size) > good
      && ::ftruncate(sink->fd_, static_cast<off_t>(good)) != 0)
    return errno_status("cutting the torn last line of effect file '" + p + "'");
  return sink;
}

file_sink::~file_sink() {
  if (fd_ >= 0)
    ::close(fd_);
}

status file_sink::apply(const effect& e) {
  if (keys_.count(e.key))
    return status::ok(); // Delivered again after a crash or restore.
  if (e.key.find_first_of("\t\n") != std::string::npos)
    return status::invalid_argument("effect key '" + e.key + "' holds a tab or newline");
  std::string line = e.key + '\t' + escape(e.payload) + '\n';
  size_t done = 0;
  while (done < line.size()) {
    auto n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno_status("appending to effect file '" + path_ + "'");
    }
    done += static_cast<size_t>(n);
  }
  if (opts_.sync && ::fsync(fd_) != 0)
    return errno_status("syncing effect file '" + path_ + "'");
  keys_.insert(e.key);
  return status::ok();
}

} // namespace amber
