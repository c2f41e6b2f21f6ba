#pragma once

// Runs the real `amber` binary for the apps tests: to completion with a
// deadline, or in the background with its output read line by line.
// Every process started here is killed (SIGKILL) and reaped when its
// handle goes out of scope, so a failing test leaves nothing running.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace amber::apps_test {

using namespace std::chrono_literals;

/// The binary under test and the example graphs (compile definitions).
inline const char* binary() { return AMBER_BINARY; }

/// In a forked child: replaces the process with `program args...`.
[[noreturn]] inline void exec_program(std::string program, std::vector<std::string> args) {
  std::vector<char*> argv;
  argv.push_back(program.data());
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(program.c_str(), argv.data());
  std::_Exit(127);
}

/// In a forked child: replaces the process with `amber args...`.
[[noreturn]] inline void exec_amber(std::vector<std::string> args) {
  exec_program(binary(), std::move(args));
}

/// A program other than amber, for `child`.
struct command {
  std::string program; ///< The executable's path.
  std::vector<std::string> args;
  /// Start it in a process group of its own, and kill the whole group with
  /// it (a browser's helper processes).
  bool own_group = false;
};

inline std::string example(const std::string& name) {
  return std::string(AMBER_EXAMPLES) + "/" + name;
}

/// A child process with its stdout and stderr on pipes.
class child {
public:
  /// Starts `amber args...`, with `env` ("NAME=value") added to its environment.
  explicit child(std::vector<std::string> args, std::vector<std::string> env = {}) {
    start({binary(), std::move(args), false}, env);
  }
  /// Starts `cmd`.
  explicit child(command cmd) { start(std::move(cmd), {}); }

  ~child() {
    if (pid_ > 0 && !reaped_) {
      kill_all();
      int st;
      ::waitpid(pid_, &st, 0);
    }
    if (own_group_ && pid_ > 0)
      ::kill(-pid_, SIGKILL); // helpers that outlived it
    if (out_fd_ >= 0)
      ::close(out_fd_);
    if (err_fd_ >= 0)
      ::close(err_fd_);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) { ::kill(pid_, sig); }

  /// Reads what is available for up to `wait`. @return false once both
  /// pipes are at end of file.
  bool pump(std::chrono::milliseconds wait) {
    if (out_fd_ < 0 && err_fd_ < 0)
      return false;
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(wait.count()));
    if (n > 0) {
      read_into(fds[0], out_fd_, out);
      read_into(fds[1], err_fd_, err);
    }
    return out_fd_ >= 0 || err_fd_ >= 0;
  }

  /// Waits until stdout holds a line for which `pred` holds; returns it.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& pred,
                                           std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t scanned = 0;
    for (;;) {
      size_t nl;
      while ((nl = out.find('\n', scanned)) != std::string::npos) {
        std::string line = out.substr(scanned, nl - scanned);
        scanned = nl + 1;
        if (pred(line))
          return line;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return std::nullopt;
      if (!pump(50ms) && out.find('\n', scanned) == std::string::npos)
        return std::nullopt;
    }
  }

  /// Waits for the exit. @return the exit code, 128+N for a signal N, or -1
  /// after `timeout` (the process is then killed).
  int wait(std::chrono::milliseconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pump(20ms);
      int st;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        // Drain what the process wrote before it exited.
        auto drain_until = std::chrono::steady_clock::now() + 1s;
        while (pump(10ms) && std::chrono::steady_clock::now() < drain_until) {
        }
        if (WIFEXITED(st))
          return WEXITSTATUS(st);
        return 128 + WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        kill_all();
        ::waitpid(pid_, &st, 0);
        reaped_ = true;
        return -1;
      }
    }
  }

  std::string out;
  std::string err;

private:
  void start(command cmd, std::vector<std::string> env) {
    own_group_ = cmd.own_group;
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::close(err[0]);
      ::close(err[1]);
      ::unsetenv("AMBER_STORE");
      for (auto& e : env)
        ::putenv(e.data());
      // Signals the test process blocks or ignores must not carry over.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (cmd.own_group)
        ::setpgid(0, 0);
      exec_program(std::move(cmd.program), std::move(cmd.args));
    }
    if (cmd.own_group)
      ::setpgid(pid_, pid_); // also here: no race with a kill right after the fork
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }

  void kill_all() {
    ::kill(own_group_ ? -pid_ : pid_, SIGKILL);
  }

  static void read_into(const pollfd& p, int& fd, std::string& sink) {
    if (fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
      return;
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink.append(buf, static_cast<size_t>(n));
    } else {
      ::close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  bool own_group_ = false;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
};

struct outcome {
  int code = -1;
  std::string out;
  std::string err;
};

/// Runs `amber args...` to completion (killed after `timeout`: code -1).
inline outcome run_amber(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
  child c(std::move(args));
  outcome o;
  o.code = c.wait(timeout);
  o.out = std::move(c.out);
  o.err = std::move(c.err);
  return o;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace amber::apps_test
