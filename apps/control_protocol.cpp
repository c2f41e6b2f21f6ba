#include "control_protocol.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace amber::cli {

namespace {

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0)
    return "no details";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// A connected, blocking socket with per-call timeouts, optionally under
// TLS. Closes both on destruction.
class client_stream {
public:
  client_stream(int fd, std::chrono::milliseconds timeout) : fd_(fd) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~client_stream() {
    if (ssl_)
      SSL_free(ssl_);
    ::close(fd_);
  }
  client_stream(const client_stream&) = delete;
  client_stream& operator=(const client_stream&) = delete;

  status start_tls(const control_tls& tls, const std::string& where) {
    ssl_ = tls.session(fd_);
    if (!ssl_ || SSL_connect(ssl_) != 1)
      return failure(where, "TLS handshake refused");
    return status::ok();
  }

  status write_all(std::string_view data, const std::string& where) {
    while (!data.empty()) {
      ssize_t n = ssl_ ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                       : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (!ssl_ && n < 0 && errno == EINTR)
          continue;
        return failure(where, "sending the request");
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return status::ok();
  }

  status read_exact(char* out, size_t size, const std::string& where) {
    while (size > 0) {
      ssize_t n = ssl_ ? SSL_read(ssl_, out, static_cast<int>(size)) : ::recv(fd_, out, size, 0);
      if (n == 0 || (ssl_ && n < 0 && SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_ZERO_RETURN))
        return status(errc::io_error, "the control endpoint at " + where
                                        + " closed the connection without an answer");
      if (n < 0) {
        if (!ssl_ && errno == EINTR)
          continue;
        return failure(where, "waiting for the answer");
      }
      out += n;
      size -= static_cast<size_t>(n);
    }
    return status::ok();
  }

private:
  status failure(const std::string& where, const std::string& doing) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK)
      return status(errc::timeout, "the node at " + where + " did not answer in time ("
                                     + doing + ")");
    std::string why = ssl_ ? ssl_error_text() : std::strerror(e);
    return status(errc::io_error, "the control endpoint at " + where + " failed " + doing
                                    + ": " + why);
  }

  int fd_;
  SSL* ssl_ = nullptr;
};

// A socket connected to `to`, or io_error ("cannot reach ...").
result<int> connect_to(const control_address& to, std::chrono::milliseconds timeout) {
  auto unreachable = [&](const std::string& why) {
    return status(errc::io_error, "cannot reach the control endpoint at " + to.to_string() + ": "
                                    + why);
  };
  if (to.is_unix()) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return unreachable(std::strerror(errno));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, to.unix_path.data(), to.unix_path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      int e = errno;
      ::close(fd);
      return unreachable(std::strerror(e));
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port = std::to_string(to.tcp.port);
  if (int rc = ::getaddrinfo(to.tcp.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return unreachable(gai_strerror(rc));
  std::string why = "no address";
  for (auto* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
      continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = ETIMEDOUT;
      socklen_t len = sizeof err;
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1)
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      // Back to blocking: the stream uses per-call timeouts.
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      ::freeaddrinfo(res);
      return fd;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return unreachable(why);
}

} // namespace

result<control_address> parse_control_address(std::string_view text) {
  control_address out;
  if (text.substr(0, 5) == "unix:") {
    out.unix_path = std::string(text.substr(5));
    if (out.unix_path.empty())
      return status::invalid_argument("'" + std::string(text) + "': unix:PATH needs a path");
    if (out.unix_path.size() >= sizeof(sockaddr_un::sun_path))
      return status::invalid_argument("'" + std::string(text) + "': a socket path has at most "
                                      + std::to_string(sizeof(sockaddr_un::sun_path) - 1)
                                      + " bytes");
    return out;
  }
  auto ep = parse_endpoint(text);
  if (!ep)
    return ep.error();
  out.tcp = *ep;
  return out;
}

result<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return status(errno == ENOENT ? errc::not_found : errc::io_error,
                  "cannot read the token file " + path + ": " + std::strerror(errno));
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.size() < control_min_token || token.size() > 1024
      || token.find_first_of(" \t") != std::string::npos)
    return status::invalid_argument(
      "the token file " + path + " must hold one line of " + std::to_string(control_min_token)
      + " to 1024 characters without blanks (e.g. `openssl rand -hex 32 > " + path + "`)");
  return token;
}

std::string control_frame(std::string_view payload) {
  auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(4 + payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

result<std::shared_ptr<control_tls>> control_tls::make(const tls_settings& tls, bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx)
    return status(errc::internal, "cannot make a TLS context: " + ssl_error_text());
  std::shared_ptr<control_tls> out(new control_tls(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1
      || SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1
      || SSL_CTX_check_private_key(ctx) != 1
      || SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) != 1)
    return status::invalid_argument("cannot load the TLS files (" + tls.cert_file + ", "
                                    + tls.key_file + ", " + tls.ca_file
                                    + "): " + ssl_error_text());
  // Mutual TLS: each side proves itself with a certificate the CA signed.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return out;
}

control_tls::~control_tls() { SSL_CTX_free(ctx_); }

SSL* control_tls::session(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl && SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

result<nlohmann::json> call_control(const control_address& to, const control_credentials& cred,
                                    std::string_view verb, std::chrono::milliseconds timeout) {
  std::shared_ptr<control_tls> tls;
  if (cred.tls.enabled()) {
    auto made = control_tls::make(cred.tls, false);
    if (!made)
      return made.error();
    tls = *made;
  }
  auto fd = connect_to(to, timeout);
  if (!fd)
    return fd.error();
  client_stream s(*fd, timeout);
  auto where = to.to_string();
  if (tls)
    if (status st = s.start_tls(*tls, where); !st)
      return status(errc::io_error, "cannot reach the control endpoint at " + where + ": "
                                      + st.message());
  std::string request(verb);
  if (!cred.token.empty())
    request += " " + cred.token;
  AMBER_RETURN_IF_ERROR(s.write_all(control_frame(request), where));
  unsigned char header[4];
  AMBER_RETURN_IF_ERROR(s.read_exact(reinterpret_cast<char*>(header), 4, where));
  uint32_t n = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16)
               | (uint32_t{header[2]} << 8) | header[3];
  if (n > control_max_frame)
    return status::corruption("the control endpoint at " + where + " announced a reply of "
                              + std::to_string(n) + " bytes (at most "
                              + std::to_string(control_max_frame) + ")");
  std::string body(n, '\0');
  AMBER_RETURN_IF_ERROR(s.read_exact(body.data(), n, where));
  auto reply = nlohmann::json::parse(body, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok"))
    return status::corruption("the control endpoint at " + where + " sent a reply that is not "
                              "amber's control protocol");
  if (reply.value("ok", false))
    return reply;
  auto err = reply.value("error", nlohmann::json::object());
  std::string code = err.is_object() ? err.value("code", "internal") : "internal";
  std::string message = err.is_object() ? err.value("message", "") : "";
  for (uint8_t c = 0; c <= static_cast<uint8_t>(errc::no_space); ++c)
    if (code == to_string(static_cast<errc>(c)))
      return status(static_cast<errc>(c), message);
  return status(errc::internal, message);
}

} // namespace amber::cli
