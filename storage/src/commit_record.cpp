#include "commit_record.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "amber/storage/digest.hpp"

namespace amber::detail {

namespace {

constexpr char slot_magic[8] = {'a', 'm', 'b', 'e', 'r', 'l', 'c', '1'};
constexpr size_t slot_size = 32;
constexpr size_t body_size = 24;

void put_u64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

void seal(char* slot) {
  auto d = sha256(std::string_view(slot, body_size));
  std::memcpy(slot + body_size, d.raw().data(), slot_size - body_size);
}

bool sealed(const char* slot) {
  if (std::memcmp(slot, slot_magic, sizeof slot_magic) != 0)
    return false;
  auto d = sha256(std::string_view(slot, body_size));
  return std::memcmp(slot + body_size, d.raw().data(), slot_size - body_size) == 0;
}

std::string path_in(const std::string& dir) {
  return dir + "/" + commit_record::file_name;
}

} // namespace

result<std::optional<uint64_t>> commit_record::read(const std::string& dir) {
  std::string path = path_in(dir);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No record (or none this user may read): nothing to compare with.
    if (errno == ENOENT || errno == EACCES)
      return std::optional<uint64_t>{};
    return status::io_error("cannot read " + path + ": " + std::strerror(errno));
  }
  char buf[2 * slot_size] = {};
  ssize_t got = ::pread(fd, buf, sizeof buf, 0);
  int err = errno;
  ::close(fd);
  if (got < 0)
    return status::io_error("cannot read " + path + ": " + std::strerror(err));
  std::optional<uint64_t> newest;
  for (size_t i = 0; i < 2; ++i) {
    const char* slot = buf + i * slot_size;
    if (static_cast<size_t>(got) < (i + 1) * slot_size || !sealed(slot))
      continue;
    uint64_t txn = get_u64(slot + 8);
    if (!newest || txn > *newest)
      newest = txn;
  }
  return newest;
}

result<commit_record> commit_record::open(const std::string& dir) {
  std::string path = path_in(dir);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return status::io_error("cannot open " + path + ": " + std::strerror(errno));
  return commit_record(fd, std::move(path));
}

commit_record::commit_record(commit_record&& other) noexcept
  : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

commit_record::~commit_record() {
  if (fd_ >= 0)
    ::close(fd_);
}

status commit_record::write(uint64_t txn_id) {
  char slot[slot_size] = {};
  std::memcpy(slot, slot_magic, sizeof slot_magic);
  put_u64(slot + 8, txn_id);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  put_u64(slot + 16, static_cast<uint64_t>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(now).count()));
  seal(slot);
  auto off = static_cast<off_t>((txn_id % 2) * slot_size);
  if (::pwrite(fd_, slot, slot_size, off) != static_cast<ssize_t>(slot_size))
    return status::io_error("cannot write " + path_ + ": " + std::strerror(errno));
  return status::ok();
}

} // namespace amber::detail
