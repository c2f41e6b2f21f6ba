// amber ui: serves the page and JSON API of ui_api.hpp on 127.0.0.1 over
// HTTP/1.1 (Debian's cpp-httplib), reading the store only, until SIGINT or
// SIGTERM. CAF-free.
//
// What a hostile or broken client meets: a request line or header block
// over 8 KiB is refused by cpp-httplib (414/400); a request with a body is
// refused unread (405 for any method but GET and HEAD, 400 for those); a
// connection that sends nothing for 2 s before a request, or stops for 5 s
// within one, is dropped (one that drips a byte every few seconds holds its
// thread longer: the server is for a local user, on loopback only); at
// most 16 requests are served at once, with at most 64 connections queued behind them (then the
// accept loop waits and the kernel's backlog holds the rest). Only a Host
// header naming this server by its loopback address is answered (403
// otherwise: a page from another site that rebinds its DNS name to
// 127.0.0.1 cannot read the store through the user's browser).

#include <sys/socket.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/core.h>
#include <httplib.h>

#include "commands.hpp"
#include "ui_api.hpp"

namespace amber::cli {

namespace {

constexpr size_t server_threads = 16;
constexpr size_t max_queued_connections = 64;
constexpr size_t max_body_bytes = 64 * 1024; // never read (see above); a bound all the same

// httplib's own ThreadPool queues without bound: one thread per
// connection being served, and an accept loop that waits for room.
class bounded_pool final : public httplib::TaskQueue {
public:
  bounded_pool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this] { work(); });
  }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    room_.wait(lock, [this] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    lock.unlock();
    work_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      shutdown_ = true;
    }
    work_.notify_all();
    room_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty())
          return; // shut down, nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();
    }
  }

  const size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable work_; // a job or shutdown
  std::condition_variable room_; // the queue has room
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
};

void set_error(httplib::Response& res, int code, const std::string& text) {
  res.status = code;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

// Headers on every answer: nothing cached, nothing loaded from elsewhere,
// the page never framed.
void set_common_headers(httplib::Response& res) {
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                 "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
}

} // namespace

int cmd_ui(const context& ctx, const ui_cli_options& opts) {
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  // Before the server's threads start: they inherit the mask, and the stop
  // signals reach the sigwait below.
  block_stop_signals();

  httplib::Server server;
  server.new_task_queue = [] { return new bounded_pool(server_threads, max_queued_connections); };
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_timeout(2);
  server.set_keep_alive_max_count(100);
  server.set_payload_max_length(max_body_bytes);
  // httplib's default also sets SO_REUSEPORT, with which a second `amber
  // ui` on the same port would share it silently instead of failing.
  server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  const std::string host = "127.0.0.1";
  int port = opts.port == 0 ? server.bind_to_any_port(host) : opts.port;
  if (port <= 0 || (opts.port != 0 && !server.bind_to_port(host, opts.port)))
    return fail(ctx, status(errc::io_error,
                            opts.port == 0 ? "cannot listen on " + host + ": no free port"
                                           : fmt::format("cannot listen on {}:{}: the port is "
                                                         "taken, or not this user's to take "
                                                         "(--port 0 picks a free one)",
                                                         host, opts.port)));
  const std::string authority = fmt::format("{}:{}", host, port);
  const std::string local_name = fmt::format("localhost:{}", port);

  store& s = **db;
  const registry* types = ctx.types.get();
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    set_common_headers(res);
    auto host_header = req.get_header_value("Host");
    if (host_header != authority && host_header != local_name) {
      set_error(res, 403, "this server answers requests for " + authority + " only");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      res.set_header("Connection", "close"); // its body, if any, is not read
      set_error(res, 405, "amber ui is read-only: GET and HEAD only");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.has_header("Transfer-Encoding")
        || (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0")) {
      res.set_header("Connection", "close"); // the body is not read
      set_error(res, 400, "a GET or HEAD request has no body");
      return httplib::Server::HandlerResponse::Handled;
    }
    try {
      auto answer = answer_ui_request(s, types, req.target);
      res.status = answer.status;
      res.set_content(answer.body, answer.content_type);
    } catch (const std::exception& e) {
      set_error(res, 500, std::string("internal error: ") + e.what());
    }
    return httplib::Server::HandlerResponse::Handled;
  });

  std::thread listener([&server] { server.listen_after_bind(); });
  const std::string url = fmt::format("http://{}/", authority);
  if (ctx.json)
    print_json({{"url", url}, {"port", port}, {"store", (*db)->directory()}});
  else
    fmt::print("{}\n", url);
  std::fflush(stdout);
  fmt::print(stderr, "{}: serving store {} read-only at {}; stop with Ctrl-C\n", program_name(),
             (*db)->directory(), url);

  sigset_t set = stop_signals();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  server.stop();
  listener.join();
  return exit_ok;
}

} // namespace amber::cli
