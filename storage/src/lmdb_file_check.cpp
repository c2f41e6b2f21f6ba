#include "lmdb_file_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace amber::detail {

namespace {

static_assert(sizeof(size_t) == 8, "the meta page offsets below are those of 64-bit LMDB builds");

constexpr uint32_t lmdb_magic = 0xBEEFC0DE;
constexpr uint32_t lmdb_data_version = 1;
constexpr uint16_t page_flag_meta = 0x08;
constexpr uint64_t invalid_page = ~uint64_t{0};
// Byte offsets inside a meta page (see the header).
constexpr size_t off_flags = 10, off_magic = 16, off_version = 20, off_map_size = 32,
                 off_page_size = 40, off_free_root = 40 + 40, off_main_root = 88 + 40,
                 off_last_page = 136, off_txn_id = 144, meta_bytes = 152;
// No build of LMDB maps more than this (2^47 bytes): a larger page count is damage.
constexpr uint64_t max_pages = (uint64_t{1} << 47) / 512;

template <class T>
T load(const char* page, size_t off) {
  T v;
  std::memcpy(&v, page + off, sizeof v);
  return v;
}

// Empty when `page` is an LMDB meta page of our data version, else why not.
std::string meta_problem(const char* page) {
  if (load<uint32_t>(page, off_magic) != lmdb_magic)
    return "no LMDB magic";
  if (!(load<uint16_t>(page, off_flags) & page_flag_meta))
    return "not flagged as a meta page";
  if (auto v = load<uint32_t>(page, off_version); v != lmdb_data_version)
    return "LMDB data version " + std::to_string(v) + ", not " + std::to_string(lmdb_data_version);
  return {};
}

lmdb_meta parse_meta(const char* page) {
  lmdb_meta m;
  m.page_size = load<uint32_t>(page, off_page_size);
  m.map_size = load<uint64_t>(page, off_map_size);
  m.free_root = load<uint64_t>(page, off_free_root);
  m.main_root = load<uint64_t>(page, off_main_root);
  m.last_page = load<uint64_t>(page, off_last_page);
  m.txn_id = load<uint64_t>(page, off_txn_id);
  return m;
}

bool power_of_two_page(uint32_t n) {
  return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

status read_at(int fd, char* buf, size_t n, uint64_t off, const std::string& path) {
  ssize_t got = ::pread(fd, buf, n, static_cast<off_t>(off));
  if (got < 0)
    return status::io_error("cannot read " + path + ": " + std::strerror(errno));
  if (static_cast<size_t>(got) != n)
    return status::corruption(path + " changed size while it was checked");
  return status::ok();
}

std::string page_name(int i) {
  return "meta page " + std::to_string(i);
}

// Checks the roots and last page of meta page `i` against the file.
status check_bounds(const lmdb_file_facts& f, int i, const std::string& path) {
  const lmdb_meta& m = f.meta[i];
  if (m.last_page >= max_pages)
    return status::corruption(path + ": " + page_name(i) + " says the data runs to page "
                              + std::to_string(m.last_page) + ", more than LMDB can map");
  const std::pair<const char*, uint64_t> roots[] = {{"free-page", m.free_root},
                                                    {"main", m.main_root}};
  for (auto [tree, root] : roots) {
    if (root == invalid_page)
      continue;
    if (root < 2 || root > m.last_page || root >= f.file_pages())
      return status::corruption(
        path + ": " + page_name(i) + " (transaction " + std::to_string(m.txn_id) + ") puts the "
        + tree + " tree at page " + std::to_string(root) + ", but the file holds pages 2 to "
        + std::to_string(f.file_pages() - 1) + " and the meta page's last page is "
        + std::to_string(m.last_page) + (root >= f.file_pages() ? " (truncated?)" : ""));
  }
  return status::ok();
}

} // namespace

result<lmdb_file_facts> check_lmdb_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return status::io_error("cannot open " + path + ": " + std::strerror(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return status::io_error("cannot stat " + path + ": " + std::strerror(errno));
  lmdb_file_facts f;
  f.file_size = static_cast<uint64_t>(st.st_size);
  if (f.file_size == 0)
    return status(errc::not_a_store, path + " is empty");
  char page0[meta_bytes] = {};
  size_t head = f.file_size < meta_bytes ? f.file_size : meta_bytes;
  AMBER_RETURN_IF_ERROR(read_at(fd, page0, head, 0, path));
  std::string problem0 = head < meta_bytes ? "too short" : meta_problem(page0);
  // Without page 0 the page size is unknown: LMDB's default is the OS page.
  uint32_t psize = problem0.empty() ? load<uint32_t>(page0, off_page_size)
                                    : static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
  char page1[meta_bytes] = {};
  std::string problem1 = "beyond the end of the file";
  if (power_of_two_page(psize) && f.file_size >= uint64_t{psize} + meta_bytes) {
    AMBER_RETURN_IF_ERROR(read_at(fd, page1, meta_bytes, psize, path));
    problem1 = meta_problem(page1);
  }
  if (!problem0.empty() && !problem1.empty()) {
    if (problem0 == "no LMDB magic" || problem0 == "too short")
      return status(errc::not_a_store, path + " is not an LMDB data file (" + problem0 + ")");
    return status::corruption(path + ": " + page_name(0) + ": " + problem0);
  }
  if (!problem0.empty())
    return status::corruption(path + ": " + page_name(0) + " is damaged (" + problem0
                              + "); " + page_name(1) + " is intact");
  if (!power_of_two_page(psize))
    return status::corruption(path + ": " + page_name(0) + " gives a page size of "
                              + std::to_string(psize) + " bytes");
  if (f.file_size < 2 * uint64_t{psize})
    return status::corruption(path + " is truncated to " + std::to_string(f.file_size)
                              + " bytes: its two meta pages alone take "
                              + std::to_string(2 * psize));
  if (!problem1.empty())
    return status::corruption(path + ": " + page_name(1) + " is damaged (" + problem1 + "); "
                              + page_name(0) + " is intact");
  f.meta[0] = parse_meta(page0);
  f.meta[1] = parse_meta(page1);
  if (f.meta[1].page_size != psize)
    return status::corruption(path + ": the meta pages disagree on the page size ("
                              + std::to_string(psize) + " and "
                              + std::to_string(f.meta[1].page_size) + " bytes)");
  uint64_t t0 = f.meta[0].txn_id, t1 = f.meta[1].txn_id;
  bool fresh = t0 == 0 && t1 == 0;
  bool paired = t0 % 2 == 0 && t1 % 2 == 1 && (t0 > t1 ? t0 - t1 : t1 - t0) == 1;
  if (!fresh && !paired)
    return status::corruption(
      path + ": the meta pages record transactions " + std::to_string(t0) + " (page 0) and "
      + std::to_string(t1) + " (page 1); LMDB writes consecutive ones, each on the page of "
      "its parity, so one meta page is damaged");
  f.newest = t1 > t0 ? 1 : 0;
  AMBER_RETURN_IF_ERROR(check_bounds(f, f.newest, path));
  AMBER_RETURN_IF_ERROR(check_bounds(f, 1 - f.newest, path));
  return f;
}

} // namespace amber::detail
