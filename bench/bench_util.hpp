#pragma once

// What the benchmark programs share: strict command-line options, medians,
// the process's RSS, scratch directories and a watchdog that ends the run
// when a phase hangs (so a benchmark reports a hang instead of becoming one).
//
// No CAF and no amber here: the helpers must keep compiling whatever the
// runtime looks like. Threads: a `watchdog` may be armed and disarmed from
// one thread at a time; everything else is plain functions.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// The median of `xs` (the upper one for an even count); 0 for none.
inline double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

/// A field of /proc/self/status in KiB ("VmRSS:", "VmHWM:"); -1 if absent.
inline int64_t proc_status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  auto len = std::char_traits<char>::length(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0)
      return std::strtoll(line.c_str() + len, nullptr, 10);
  }
  return -1;
}

/// The resident set size of this process in KiB.
inline int64_t rss_kib() {
  return proc_status_kib("VmRSS:");
}

/// Makes the peak RSS (VmHWM) start again from the current RSS (Linux >= 4.0).
inline void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

/// The peak resident set size in KiB since start or `reset_peak_rss()`.
inline int64_t peak_rss_kib() {
  return proc_status_kib("VmHWM:");
}

inline double mib(int64_t kib) {
  return static_cast<double>(kib) / 1024.0;
}

/// A whole decimal number in [lo, hi], or nullopt (signs, suffixes, spaces
/// and overflow are all refused).
inline std::optional<int64_t> parse_int(std::string_view s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
    return std::nullopt;
  return v;
}

/// `--name value` / `--name=value` options taking whole numbers or
/// comma-separated lists of them, plus `--help`. A bad command line prints
/// the usage to stderr and exits 2; `--help` prints it to stdout and exits 0.
class options {
public:
  options(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

  void add(std::string name, int64_t* target, int64_t lo, int64_t hi, std::string help) {
    opts_.push_back({std::move(name), std::move(help), target, nullptr, lo, hi});
  }

  void add_list(std::string name, std::vector<int64_t>* target, int64_t lo, int64_t hi,
                std::string help) {
    opts_.push_back({std::move(name), std::move(help), nullptr, target, lo, hi});
  }

  void usage(std::FILE* to) const {
    std::fprintf(to, "Usage: %s [options]\n\n%s\n\nOptions:\n", program_.c_str(),
                 summary_.c_str());
    for (auto& o : opts_) {
      std::string lhs = "--" + o.name + (o.list ? " N[,N...]" : " N");
      std::fprintf(to, "  %-26s %s (default %s; %lld..%lld)\n", lhs.c_str(), o.help.c_str(),
                   current(o).c_str(), static_cast<long long>(o.lo),
                   static_cast<long long>(o.hi));
    }
    std::fprintf(to, "  %-26s %s\n", "-h, --help", "print this help and exit");
  }

  void parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "-h" || arg == "--help") {
        usage(stdout);
        std::exit(0);
      }
      if (arg.substr(0, 2) != "--")
        fail("unexpected argument '" + std::string(arg) + "'");
      arg.remove_prefix(2);
      std::string_view value;
      bool inline_value = false;
      if (auto eq = arg.find('='); eq != std::string_view::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      auto o = std::find_if(opts_.begin(), opts_.end(), [&](auto& x) { return x.name == arg; });
      if (o == opts_.end())
        fail("unknown option '--" + std::string(arg) + "'");
      if (!inline_value) {
        if (i + 1 >= argc)
          fail("option '--" + o->name + "' needs a value");
        value = argv[++i];
      }
      if (!set(*o, value))
        fail("option '--" + o->name + "': '" + std::string(value) + "' is not "
             + (o->list ? "a list of whole numbers" : "a whole number") + " in "
             + std::to_string(o->lo) + ".." + std::to_string(o->hi));
    }
  }

  [[noreturn]] void fail(const std::string& why) const {
    std::fprintf(stderr, "%s: %s\n\n", program_.c_str(), why.c_str());
    usage(stderr);
    std::exit(2);
  }

private:
  struct opt {
    std::string name;
    std::string help;
    int64_t* scalar;
    std::vector<int64_t>* list;
    int64_t lo, hi;
  };

  static std::string current(const opt& o) {
    if (o.scalar)
      return std::to_string(*o.scalar);
    std::string out;
    for (auto v : *o.list)
      out += (out.empty() ? "" : ",") + std::to_string(v);
    return out;
  }

  static bool set(const opt& o, std::string_view value) {
    if (o.scalar) {
      auto v = parse_int(value, o.lo, o.hi);
      if (!v)
        return false;
      *o.scalar = *v;
      return true;
    }
    std::vector<int64_t> out;
    while (true) {
      auto comma = value.find(',');
      auto v = parse_int(value.substr(0, comma), o.lo, o.hi);
      if (!v)
        return false;
      out.push_back(*v);
      if (comma == std::string_view::npos)
        break;
      value.remove_prefix(comma + 1);
    }
    *o.list = std::move(out);
    return true;
  }

  std::string program_;
  std::string summary_;
  std::vector<opt> opts_;
};

/// A fresh, empty directory under the system's temp directory; removed by
/// the destructor.
class scratch_dir {
public:
  explicit scratch_dir(const std::string& prefix) {
    auto pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  /// A path inside the directory (not created).
  std::string sub(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

/// Ends the process with exit code 3 when an armed phase outlives its limit,
/// after saying which phase hung: a hang in the runtime becomes a reported
/// figure, not a stuck benchmark.
class watchdog {
public:
  watchdog() : thread_([this] { run(); }) {}
  ~watchdog() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void arm(std::string phase, std::chrono::seconds limit) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      phase_ = std::move(phase);
      limit_ = limit;
      deadline_ = clock_type::now() + limit;
      armed_ = true;
    }
    cv_.notify_all();
  }

  void disarm() {
    std::lock_guard<std::mutex> guard(mutex_);
    armed_ = false;
  }

private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!done_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_
          && clock_type::now() >= deadline_) {
        std::printf("TIMEOUT: %s did not finish within %lld s; giving up (exit 3)\n",
                    phase_.c_str(), static_cast<long long>(limit_.count()));
        std::fflush(stdout);
        std::_Exit(3);
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool armed_ = false;
  std::string phase_;
  std::chrono::seconds limit_{0};
  clock_type::time_point deadline_;
  std::thread thread_;
};

/// Arms `dog` for one scope.
class phase_guard {
public:
  phase_guard(watchdog& dog, std::string phase, std::chrono::seconds limit) : dog_(dog) {
    dog_.arm(std::move(phase), limit);
  }
  ~phase_guard() { dog_.disarm(); }
  phase_guard(const phase_guard&) = delete;
  phase_guard& operator=(const phase_guard&) = delete;

private:
  watchdog& dog_;
};

} // namespace bench
