#pragma once

// Stores and files for the apps tests: scratch directories, a shared store
// with history (built once by `amber demo`), and JSON helpers.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace amber::apps_test {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// A fresh directory, removed with everything in it on destruction.
class scratch {
public:
  scratch() {
    std::random_device rd;
    path_ = fs::temp_directory_path()
            / ("amber-apps-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;

  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// Copies a store directory (its data file; LMDB rebuilds the lock file).
inline void copy_store(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  fs::copy_file(fs::path(from) / "data.mdb", fs::path(to) / "data.mdb");
}

/// A store with a history of four snapshots of node "bank" (incarnations 0
/// to 3, one chain, with transfers between them), built on first use by
/// running `amber demo` twice. Read it; copy it (copy_store) to change it.
inline const std::string& history_store() {
  static scratch dir;
  static std::string path = [] {
    std::string p = dir / "history";
    for (int i = 0; i < 2; ++i) {
      auto r = run_amber({"demo", "--store", p}, 120s);
      REQUIRE_MESSAGE(r.code == 0, (r.out + r.err));
    }
    return p;
  }();
  return path;
}

/// Whether this test may run amber as the unprivileged user nobody (as
/// root, with setpriv); says why not (the case is then skipped).
inline bool can_run_as_nobody() {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to run amber as an unprivileged user (setpriv)");
    return false;
  }
  if (::access("/usr/bin/setpriv", X_OK) != 0) {
    MESSAGE("skipped: setpriv is not installed");
    return false;
  }
  return true;
}

/// A copy of history_store() that only root may write, and a copy of the
/// binary anyone may run (the build tree may not be readable by nobody), in
/// `dir`: for running amber as an unprivileged user (setpriv).
struct read_only_copy {
  std::string store;
  std::string binary;
};
inline read_only_copy make_read_only_copy(const scratch& dir) {
  read_only_copy out{dir / "ro", dir / "amber"};
  copy_store(history_store(), out.store);
  fs::copy_file(binary(), out.binary);
  fs::permissions(dir.path(), fs::perms::all);
  for (auto& e : fs::directory_iterator(out.store))
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  auto read_exec = fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read
                   | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(out.store, read_exec);
  fs::permissions(out.binary, read_exec | fs::perms::owner_write);
  return out;
}

/// Parses each line of `text` as JSON.
inline std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty())
      out.push_back(json::parse(line));
  return out;
}

/// `amber ... --json` on `store`, its stdout parsed as one JSON object.
inline json amber_json(std::vector<std::string> args) {
  args.push_back("--json");
  auto r = run_amber(std::move(args));
  REQUIRE_MESSAGE(r.code == 0, r.err);
  return json::parse(r.out);
}

/// The snapshot ids of `store`, newest first.
inline std::vector<std::string> log_ids(const std::string& store) {
  auto r = run_amber({"log", "--json", "--store", store});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  std::vector<std::string> ids;
  for (auto& j : json_lines(r.out))
    ids.push_back(j.at("id").get<std::string>());
  return ids;
}

/// Component name -> state digest, from `amber show --json`.
inline std::map<std::string, std::string> states_of(const std::string& store,
                                                    const std::string& spec) {
  auto j = amber_json({"show", spec, "--store", store});
  std::map<std::string, std::string> out;
  for (auto& c : j.at("components"))
    out[c.at("name").get<std::string>()] = c.at("state").get<std::string>();
  return out;
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
int free_port();

} // namespace amber::apps_test
