#include "amber/runtime/file_sink.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_set>

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
  sink->size_ = good;
  return sink;
}

file_sink::~file_sink() {
  if (fd_ >= 0)
    ::close(fd_);
}

status file_sink::apply(const effect& e) {
  size_t performed = 0;
  return apply_all({e}, &performed);
}

status file_sink::apply_all(const std::vector<effect>& effects, size_t* performed) {
  *performed = 0;
  std::string buffer;
  std::vector<std::pair<size_t, const std::string*>> ends; // Line end in buffer, its key.
  std::unordered_set<std::string_view> batch;
  size_t valid = effects.size();
  status invalid;
  for (size_t i = 0; i < effects.size(); ++i) {
    auto& e = effects[i];
    if (e.key.find_first_of("\t\n") != std::string::npos) {
      valid = i; // Everything before it is written; it fails.
      invalid = status::invalid_argument("effect key '" + e.key + "' holds a tab or newline");
      break;
    }
    if (keys_.count(e.key) || !batch.insert(e.key).second)
      continue; // Delivered again after a crash or restore.
    buffer += e.key;
    buffer += '\t';
    buffer += escape(e.payload);
    buffer += '\n';
    ends.emplace_back(buffer.size(), &e.key);
  }
  size_t done = 0;
  status st;
  while (done < buffer.size()) {
    auto n = ::write(fd_, buffer.data() + done, buffer.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      st = errno_status("appending to effect file '" + path_ + "'");
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (st.is_ok() && opts_.sync && done > 0 && ::fsync(fd_) != 0)
    st = errno_status("syncing effect file '" + path_ + "'");
  if (st.is_ok()) {
    for (auto& [end, key] : ends)
      keys_.insert(*key);
    size_ += done;
    *performed = valid;
    return invalid;
  }
  // Keep the whole lines written; cut a torn one, so the file stays lines.
  size_t whole = 0;
  for (auto& [end, key] : ends) {
    if (end > done)
      break;
    keys_.insert(*key);
    whole = end;
  }
  size_ += whole;
  if (done > whole)
    (void)::ftruncate(fd_, static_cast<off_t>(size_));
  for (auto& e : effects) { // Performed: those before the first one not on file.
    if (!keys_.count(e.key))
      break;
    ++*performed;
  }
  return st;
}

} // namespace amber
