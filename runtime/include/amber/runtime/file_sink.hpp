#pragma once

// An append-only file of effect lines, exactly once per key.
//
// Each effect becomes one line: its key, a tab, its payload (a newline in
// the payload is written as "\n", a backslash as "\\"); a batch of effects
// is one write(2) call. On open the sink
// reads the keys already in the file back (and cuts a torn last line, which
// was never acknowledged), so a key delivered again after a crash or a
// restore writes nothing. With
// `sync` the file is fsync'ed before `apply` returns (survives a power
// loss, not only a crash of the process).
//
// Memory: the sink keeps every key of the file in memory.
// Threads: `apply` is called by one thread at a time (see effect.hpp).

#include <memory>
#include <string>
#include <unordered_set>

#include "amber/runtime/effect.hpp"
#include "amber/storage/status.hpp"

namespace amber {

class file_sink final : public idempotent_sink {
public:
  struct options {
    bool sync = false; ///< fsync after each line.
  };

  /// Opens (or creates) `path` for appending, under the sink name `name`.
  /// @return the sink; io_error when the file cannot be read or opened.
  static result<std::shared_ptr<file_sink>> open(std::string name, std::string path,
                                                 options opts);
  static result<std::shared_ptr<file_sink>> open(std::string name, std::string path) {
    return open(std::move(name), std::move(path), options{});
  }
  ~file_sink() override;

  const std::string& name() const override { return name_; }
  /// @return ok (written, or a key written before); io_error.
  status apply(const effect& e) override;
  /// One write(2) for the batch; a write that fails part way keeps the
  /// whole lines written (their keys count as done) and cuts the rest.
  status apply_all(const std::vector<effect>& effects, size_t* performed) override;

  size_t keys() const { return keys_.size(); }

private:
  file_sink(std::string name, std::string path, options opts)
    : name_(std::move(name)), path_(std::move(path)), opts_(opts) {}

  std::string name_;
  std::string path_;
  options opts_;
  int fd_ = -1;
  uint64_t size_ = 0; ///< The file's size: where the next line starts.
  std::unordered_set<std::string> keys_;
};

} // namespace amber
