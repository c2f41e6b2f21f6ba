#include "toml_checks.hpp"

#include <filesystem>
#include <fstream>

namespace amber::cli {

result<std::string> read_bounded_file(const std::string& path, uint64_t max_bytes,
                                      const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (!fs::exists(st))
    return status::not_found("no " + what + " at " + path);
  if (fs::is_directory(st))
    return status::invalid_argument(path + " is a directory, not a " + what);
  if (!fs::is_regular_file(st))
    return status::invalid_argument(path + " is not a regular file");
  auto size = fs::file_size(path, ec);
  if (ec)
    return status::io_error("cannot read " + path + ": " + ec.message());
  if (size > max_bytes)
    return status::invalid_argument(path + " has " + std::to_string(size) + " bytes; a " + what
                                    + " may have at most " + std::to_string(max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return status::io_error("cannot read " + path);
  // At most one byte past the size checked above: a file that grows while
  // it is read is refused, not read without end.
  std::string text(size + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad())
    return status::io_error("cannot read " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > size)
    return status::io_error(path + " grew while it was read");
  return text;
}

} // namespace amber::cli
