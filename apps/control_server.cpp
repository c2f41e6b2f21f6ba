#include "control_server.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

namespace amber::cli {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

json error_reply(errc code, const std::string& message) {
  return {{"ok", false}, {"error", {{"code", to_string(code)}, {"message", message}}}};
}

// One caller: at most one frame being read, one request pending, one
// reply being written.
struct connection {
  uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  bool handshaking = false;
  bool want_write = false;   // TLS asked to wait for the socket to be writable
  std::string in;            // header, then payload: at most 4 + control_max_frame
  std::string out;           // the reply being written
  size_t written = 0;
  bool pending = false;      // waits for a checkpoint
  bool close_after_reply = false;
  bool draining = false;     // refused, reply sent: discarding input until EOF
  clock_type::time_point deadline;

  ~connection() {
    if (ssl)
      SSL_free(ssl);
    if (fd >= 0)
      ::close(fd);
  }
  bool reading() const { return !pending && out.empty() && !close_after_reply; }
  // Bytes the current frame still needs: the header first, then its payload.
  size_t wanted() const {
    if (in.size() < 4)
      return 4 - in.size();
    return 4 + frame_length() - in.size();
  }
  uint32_t frame_length() const {
    auto b = [&](size_t i) { return uint32_t{static_cast<unsigned char>(in[i])}; };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  }
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

} // namespace

class control_server::impl {
public:
  impl(control_server_options opts, control_handlers handlers)
    : opts_(std::move(opts)), handlers_(std::move(handlers)) {}

  ~impl() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      quit_ = true;
    }
    cv_.notify_all();
    wake();
    if (loop_.joinable())
      loop_.join();
    if (worker_.joinable())
      worker_.join();
    conns_.clear();
    if (listen_fd_ >= 0)
      ::close(listen_fd_);
    if (wake_fd_[0] >= 0) {
      ::close(wake_fd_[0]);
      ::close(wake_fd_[1]);
    }
    if (created_socket_file_)
      ::unlink(opts_.address.unix_path.c_str());
  }

  status open() {
    if (::pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0)
      return status::io_error(std::string("cannot make a pipe: ") + std::strerror(errno));
    if (!opts_.address.is_unix()) {
      if (opts_.token.empty())
        return status::invalid_argument("a TCP control endpoint needs a token "
                                        "(--control-token-file)");
      if (opts_.tls.enabled()) {
        auto made = control_tls::make(opts_.tls, true);
        if (!made)
          return made.error();
        tls_ = *made;
      }
    }
    AMBER_RETURN_IF_ERROR(opts_.address.is_unix() ? bind_unix() : bind_tcp());
    set_nonblocking(listen_fd_);
    loop_ = std::thread([this] { run_loop(); });
    worker_ = std::thread([this] { run_worker(); });
    return status::ok();
  }

  const control_address& address() const { return opts_.address; }

private:
  status cannot(const std::string& why) {
    return status::io_error("cannot open the control endpoint on " + opts_.address.to_string()
                            + ": " + why);
  }

  status bind_unix() {
    const auto& path = opts_.address.unix_path;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return cannot("the path exists and is not a socket");
      // A socket file nobody answers on is left over from a node that died.
      int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
      ::close(probe);
      if (live)
        return cannot("another process listens on it");
      ::unlink(path.c_str());
    }
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0)
      return cannot(std::strerror(errno));
    // The file is made 0600 as it is created (umask), so no other user can
    // connect even for an instant; SO_PEERCRED checks each caller as well.
    mode_t old = ::umask(0177);
    int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int e = errno;
    ::umask(old);
    if (rc != 0)
      return cannot(std::strerror(e));
    created_socket_file_ = true;
    ::chmod(path.c_str(), 0600);
    if (::listen(listen_fd_, 16) != 0)
      return cannot(std::strerror(errno));
    return status::ok();
  }

  status bind_tcp() {
    auto& ep = opts_.address.tcp;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    auto port = std::to_string(ep.port);
    if (int rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return cannot(gai_strerror(rc));
    std::string why = "no address";
    for (auto* ai = res; ai && listen_fd_ < 0; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0)
        continue;
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
        listen_fd_ = fd;
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
        ep.port = ntohs(bound.ss_family == AF_INET6
                          ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      } else {
        why = std::strerror(errno);
        ::close(fd);
      }
    }
    ::freeaddrinfo(res);
    return listen_fd_ >= 0 ? status::ok() : cannot(why);
  }

  void wake() {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_[1], &c, 1);
  }

  // --- the checkpoint thread --------------------------------------------------

  void run_worker() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return quit_ || !waiting_.empty(); });
      if (quit_)
        return;
      // Everyone waiting now shares this checkpoint: each asked before it began.
      auto batch = std::move(waiting_);
      waiting_.clear();
      lock.unlock();
      auto r = handlers_.checkpoint();
      json reply = r ? json{{"ok", true}, {"id", r->to_hex()}}
                     : error_reply(r.error().code(), r.error().message());
      lock.lock();
      for (auto id : batch)
        done_.emplace_back(id, reply);
      wake();
    }
  }

  // --- the loop thread --------------------------------------------------------

  void run_loop() {
    for (;;) {
      {
        std::lock_guard<std::mutex> guard(mutex_);
        if (quit_)
          return;
      }
      std::vector<pollfd> fds{{wake_fd_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      std::vector<uint64_t> ids;
      auto now = clock_type::now();
      auto next_deadline = now + std::chrono::seconds(1);
      for (auto& [id, c] : conns_) {
        short ev = 0;
        if (c->reading() || c->handshaking || c->draining)
          ev |= POLLIN;
        if (!c->out.empty() || c->want_write)
          ev |= POLLOUT;
        fds.push_back({c->fd, ev, 0});
        ids.push_back(id);
        if (!c->pending)
          next_deadline = std::min(next_deadline, c->deadline);
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now);
      ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(wait.count(), 0) + 1));
      if (fds[0].revents & POLLIN) {
        char buf[64];
        while (::read(wake_fd_[0], buf, sizeof buf) > 0) {
        }
        deliver_checkpoints();
      }
      if (fds[1].revents & POLLIN)
        accept_all();
      for (size_t i = 0; i < ids.size(); ++i)
        if (fds[i + 2].revents != 0)
          serve(ids[i], fds[i + 2].revents);
      expire();
    }
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        return;
      auto c = std::make_unique<connection>();
      c->fd = fd;
      c->deadline = clock_type::now() + opts_.idle_timeout;
      if (conns_.size() >= opts_.max_connections && !evict_oldest_idle()) {
        // Every slot waits for a checkpoint: refused at once (best effort).
        if (!tls_) {
          auto no = control_frame(error_reply(errc::busy, "too many control connections").dump());
          [[maybe_unused]] auto n = ::send(fd, no.data(), no.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        continue;
      }
      if (opts_.address.is_unix() && !same_user(fd))
        continue; // closes it: another user may not even learn the protocol
      if (tls_) {
        c->ssl = tls_->session(fd);
        if (!c->ssl)
          continue;
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        c->handshaking = true;
      }
      c->id = next_id_++;
      conns_.emplace(c->id, std::move(c));
    }
  }

  // Makes room by closing the connection idle the longest: callers that
  // connect and stall cannot keep a prompt caller out.
  bool evict_oldest_idle() {
    for (auto it = conns_.begin(); it != conns_.end(); ++it)
      if (!it->second->pending) {
        conns_.erase(it);
        return true;
      }
    return false;
  }

  static bool same_user(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
      return false;
    return cred.uid == ::geteuid() || cred.uid == 0;
  }

  // Reads or writes what the socket allows; closes the connection when it
  // ends, fails, or was told to close after its reply.
  void serve(uint64_t id, short revents = 0) {
    auto it = conns_.find(id);
    if (it == conns_.end())
      return;
    auto& c = *it->second;
    // A caller gone while its checkpoint runs: nobody to answer (and poll
    // would report the hang-up again and again).
    bool keep = !(revents & (POLLHUP | POLLERR)) || c.reading();
    if (keep && c.draining)
      keep = drain(c);
    else if (keep && c.handshaking)
      keep = handshake(c);
    if (keep && !c.handshaking && !c.out.empty())
      keep = flush(c);
    if (keep && !c.handshaking && c.reading())
      keep = read_some(c);
    if (keep && !c.handshaking && !c.out.empty())
      keep = flush(c); // a refusal made while reading goes out at once
    if (!keep)
      conns_.erase(it);
  }

  bool handshake(connection& c) {
    int rc = SSL_accept(c.ssl);
    if (rc == 1) {
      c.handshaking = false;
      c.want_write = false;
      return true;
    }
    int e = SSL_get_error(c.ssl, rc);
    c.want_write = e == SSL_ERROR_WANT_WRITE;
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }

  // false: the connection is to be closed.
  bool io_would_block(connection& c, ssize_t n) {
    if (c.ssl) {
      int e = SSL_get_error(c.ssl, static_cast<int>(n));
      c.want_write = e == SSL_ERROR_WANT_WRITE;
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }

  bool read_some(connection& c) {
    while (c.reading()) {
      size_t want = c.wanted();
      size_t have = c.in.size();
      c.in.resize(have + want);
      ssize_t n = c.ssl ? SSL_read(c.ssl, c.in.data() + have, static_cast<int>(want))
                        : ::recv(c.fd, c.in.data() + have, want, 0);
      c.in.resize(have + (n > 0 ? static_cast<size_t>(n) : 0));
      if (n <= 0)
        return n < 0 || c.ssl ? io_would_block(c, n) : false;
      if (c.in.size() == 4 && c.frame_length() > control_max_frame) {
        // Refused from the header alone: the payload is never read.
        refuse(c, errc::invalid_argument,
               "a request of " + std::to_string(c.frame_length()) + " bytes is larger than "
                 + std::to_string(control_max_frame));
        return true;
      }
      if (c.in.size() >= 4 && c.wanted() == 0)
        handle(c, c.in.substr(4));
    }
    return true;
  }

  bool flush(connection& c) {
    while (c.written < c.out.size()) {
      auto rest = c.out.size() - c.written;
      ssize_t n = c.ssl ? SSL_write(c.ssl, c.out.data() + c.written, static_cast<int>(rest))
                        : ::send(c.fd, c.out.data() + c.written, rest, MSG_NOSIGNAL);
      if (n <= 0)
        return io_would_block(c, n);
      c.written += static_cast<size_t>(n);
    }
    c.out.clear();
    c.written = 0;
    c.want_write = false;
    c.deadline = clock_type::now() + opts_.idle_timeout;
    if (!c.close_after_reply)
      return true;
    if (c.ssl)
      return false;
    // Closing with unread input would reset the connection and could throw
    // the refusal away before the caller reads it: end our side, discard
    // what still comes (never stored) for a moment, then close.
    ::shutdown(c.fd, SHUT_WR);
    c.draining = true;
    c.deadline = clock_type::now() + std::chrono::seconds(1);
    return true;
  }

  bool drain(connection& c) {
    char buf[4096];
    for (int i = 0; i < 64; ++i) { // a fast sender cannot hold the loop
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0)
        continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return true;
  }

  void reply(connection& c, const json& j) {
    c.out = control_frame(j.dump());
    c.written = 0;
  }

  void refuse(connection& c, errc code, const std::string& message) {
    reply(c, error_reply(code, message));
    c.close_after_reply = true;
    c.in.clear();
  }

  void handle(connection& c, const std::string& request) {
    c.in.clear();
    auto space = request.find(' ');
    auto verb = request.substr(0, space);
    if (!opts_.token.empty()) {
      std::string token = space == std::string::npos ? std::string() : request.substr(space + 1);
      if (token.size() != opts_.token.size()
          || CRYPTO_memcmp(token.data(), opts_.token.data(), token.size()) != 0)
        return refuse(c, errc::invalid_argument,
                      "refused: the request carries no valid token (--control-token-file)");
    }
    if (verb == "checkpoint") {
      c.pending = true;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        waiting_.push_back(c.id);
      }
      cv_.notify_one();
    } else if (verb == "status") {
      reply(c, handlers_.status());
    } else if (verb == "stop") {
      reply(c, {{"ok", true}, {"stopping", true}});
      handlers_.stop();
    } else {
      refuse(c, errc::invalid_argument,
             "unknown request (expected checkpoint, status or stop)");
    }
  }

  void deliver_checkpoints() {
    std::vector<std::pair<uint64_t, json>> done;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      done.swap(done_);
    }
    for (auto& [id, j] : done) {
      auto it = conns_.find(id);
      if (it == conns_.end() || !it->second->pending)
        continue; // the caller hung up
      it->second->pending = false;
      reply(*it->second, j);
      serve(id);
    }
  }

  void expire() {
    auto now = clock_type::now();
    for (auto it = conns_.begin(); it != conns_.end();)
      if (!it->second->pending && now >= it->second->deadline)
        it = conns_.erase(it);
      else
        ++it;
  }

  control_server_options opts_;
  control_handlers handlers_;
  std::shared_ptr<control_tls> tls_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};
  bool created_socket_file_ = false;
  std::map<uint64_t, std::unique_ptr<connection>> conns_; // loop thread only
  uint64_t next_id_ = 0;
  std::thread loop_;
  std::thread worker_;
  std::mutex mutex_; // guards the three below
  std::condition_variable cv_;
  bool quit_ = false;
  std::vector<uint64_t> waiting_;
  std::vector<std::pair<uint64_t, json>> done_;
};

control_server::control_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
control_server::~control_server() = default;

const control_address& control_server::address() const { return impl_->address(); }

result<std::unique_ptr<control_server>> control_server::start(control_server_options opts,
                                                              control_handlers handlers) {
  auto p = std::make_unique<impl>(std::move(opts), std::move(handlers));
  AMBER_RETURN_IF_ERROR(p->open());
  return std::unique_ptr<control_server>(new control_server(std::move(p)));
}

} // namespace amber::cli
