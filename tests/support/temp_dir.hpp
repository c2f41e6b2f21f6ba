#pragma once

// A uniquely named directory under the system temp dir, removed on scope exit.

#include <atomic>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace test {

class temp_dir {
public:
  explicit temp_dir(const std::string& tag = "amber") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path()
            / (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string str() const { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

} // namespace test
