#pragma once

// A TCP proxy on 127.0.0.1 for tests that break links: it accepts on its own
// port, connects each accepted connection to a target port and copies bytes
// both ways; `reset_all()` aborts every connection it carries (RST on both
// sides, as a broken network would), and new connections are accepted after.
//
// Ownership: the proxy owns its thread and sockets; the destructor stops
// the thread and closes everything. Threads: `reset_all`, `connections`
// and `resets` may be called from any thread.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace test {

class tcp_proxy {
public:
  explicit tcp_proxy(uint16_t target) : target_(target) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
        || ::listen(listen_fd_, 16) != 0
        || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("tcp_proxy: cannot listen");
    port_ = ntohs(addr.sin_port);
    if (::pipe(wake_) != 0)
      throw std::runtime_error("tcp_proxy: pipe failed");
    thread_ = std::thread([this] { loop(); });
  }

  ~tcp_proxy() {
    stop_ = true;
    poke();
    thread_.join();
    for (auto& p : pairs_)
      close_pair(p, false);
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  uint16_t port() const { return port_; }

  /// Aborts every connection carried now (both ends get a reset).
  void reset_all() {
    ++reset_requests_;
    poke();
  }

  /// Connections accepted so far.
  uint64_t connections() const { return accepted_; }
  /// Connections aborted by `reset_all`.
  uint64_t resets() const { return aborted_; }

private:
  struct pair {
    int a = -1; // accepted
    int b = -1; // to the target
  };

  void poke() {
    char c = 1;
    (void) !::write(wake_[1], &c, 1);
  }

  static void abort_fd(int fd) {
    linger l{1, 0}; // close() sends RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
  }

  void close_pair(pair& p, bool abort) {
    for (int fd : {p.a, p.b})
      if (fd >= 0) {
        if (abort)
          abort_fd(fd);
        else
          ::close(fd);
      }
    p.a = p.b = -1;
  }

  int connect_target() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(target_);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }

  // Copies what `from` has to `to` (blocking write: loopback is fast).
  // @return false at end of stream or on an error.
  static bool copy(int from, int to) {
    char buf[65536];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0)
      return false;
    for (ssize_t off = 0; off < n;) {
      // send, not write: a peer that closed must not SIGPIPE the test process.
      ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0)
        return false;
      off += w;
    }
    return true;
  }

  void loop() {
    uint64_t resets_done = 0;
    while (!stop_) {
      if (resets_done != reset_requests_) {
        resets_done = reset_requests_;
        for (auto& p : pairs_) {
          close_pair(p, true);
          ++aborted_;
        }
        pairs_.clear();
      }
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (auto& p : pairs_) {
        fds.push_back({p.a, POLLIN, 0});
        fds.push_back({p.b, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 200) <= 0)
        continue;
      if (fds[0].revents & POLLIN) {
        char buf[64];
        (void) !::read(wake_[0], buf, sizeof buf);
      }
      if (fds[1].revents & POLLIN) {
        int a = ::accept(listen_fd_, nullptr, nullptr);
        if (a >= 0) {
          int b = connect_target();
          if (b < 0) {
            ::close(a);
          } else {
            int one = 1;
            ::setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            pairs_.push_back({a, b});
            ++accepted_;
          }
        }
      }
      // Pairs added above are not in `fds`: only the first `known` are polled.
      size_t known = (fds.size() - 2) / 2;
      std::vector<pair> keep;
      for (size_t i = 0; i < pairs_.size(); ++i) {
        auto& p = pairs_[i];
        bool ok = true;
        if (i < known) {
          auto ra = fds[2 + 2 * i].revents;
          auto rb = fds[3 + 2 * i].revents;
          if (ra & (POLLIN | POLLHUP | POLLERR))
            ok = copy(p.a, p.b);
          if (ok && (rb & (POLLIN | POLLHUP | POLLERR)))
            ok = copy(p.b, p.a);
        }
        if (ok)
          keep.push_back(p);
        else
          close_pair(p, true); // One side went: the other learns at once.
      }
      pairs_ = std::move(keep);
    }
  }

  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::vector<pair> pairs_; // Only the proxy's thread touches it.
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> reset_requests_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> aborted_{0};
};

} // namespace test
