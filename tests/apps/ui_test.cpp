// amber ui, run as a user would: its JSON API against the --json output of
// the commands it reuses, hostile requests, a store the user can only read,
// the page as headless Chromium renders it, and a user clicking through it
// over WebDriver (skipped, saying why, without /usr/bin/chromium or
// /usr/bin/chromedriver; scripts/install-deps.sh installs both).

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <set>
#include <thread>

#include "fixtures.hpp"
#include "ui_api.hpp"

using namespace amber::apps_test;

namespace {

// ------------------------------------------------------------------ HTTP

/// Connects to 127.0.0.1:port; -1 when refused.
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Whether `raw` holds a whole response: headers and as many body bytes as
/// its Content-Length says (without one, only the peer's close tells).
bool whole_reply(const std::string& raw) {
  auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos)
    return false;
  std::smatch m;
  std::string head = raw.substr(0, end);
  static const std::regex length(R"re(\r\ncontent-length: *(\d+))re", std::regex::icase);
  if (!std::regex_search(head, m, length))
    return false;
  return raw.size() - end - 4 >= std::stoull(m[1]);
}

/// Reads from `fd` until the peer closes it, `timeout` passes, or (with
/// `one_reply`) a whole response has arrived.
/// @param closed set to whether the peer closed it.
std::string read_until_closed(int fd, std::chrono::milliseconds timeout, bool* closed = nullptr,
                              bool one_reply = false) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (closed)
    *closed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (closed)
        *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
    if (one_reply && whole_reply(out))
      break;
  }
  return out;
}

/// Sends `request` as is and returns the server's answer: one response, or
/// whatever came before the server closed the connection or `timeout`.
std::string http_exchange(int port, const std::string& request,
                          std::chrono::milliseconds timeout = 10s) {
  int fd = connect_to(port);
  REQUIRE(fd >= 0);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  auto out = read_until_closed(fd, timeout, nullptr, true);
  ::close(fd);
  return out;
}

struct http_reply {
  int status = 0;
  std::string head; ///< Status line and headers.
  std::string body;
};

http_reply parse_reply(const std::string& raw) {
  http_reply r;
  auto end = raw.find("\r\n\r\n");
  r.head = raw.substr(0, end);
  if (end != std::string::npos)
    r.body = raw.substr(end + 4);
  std::smatch m;
  if (std::regex_search(r.head, m, std::regex(R"re(^HTTP/1\.[01] (\d{3}))re")))
    r.status = std::stoi(m[1]);
  return r;
}

http_reply get(int port, const std::string& target, const std::string& method = "GET") {
  return parse_reply(http_exchange(port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:"
                                      + std::to_string(port) + "\r\nConnection: close\r\n\r\n"));
}

json get_json(int port, const std::string& target) {
  auto r = get(port, target);
  INFO(target << " -> " << r.head << "\n" << r.body.substr(0, 400));
  REQUIRE(r.status == 200);
  CHECK(contains(r.head, "Content-Type: application/json"));
  return json::parse(r.body);
}

/// `amber ui`, up and serving: its URL read from its stdout.
class ui_server {
public:
  /// `amber ui --store STORE --port 0`.
  explicit ui_server(const std::string& store)
      : proc_(std::make_unique<child>(
        std::vector<std::string>{"ui", "--store", store, "--port", "0"})) {
    wait_up();
  }
  /// `cmd`, which runs amber ui (as another user, say).
  explicit ui_server(command cmd) : proc_(std::make_unique<child>(std::move(cmd))) { wait_up(); }

  int port() const { return port_; }
  const std::string& url() const { return url_; }
  child& process() { return *proc_; }

  /// Whether the process still runs.
  bool alive() {
    proc_->pump(0ms);
    int st;
    return ::waitpid(proc_->pid(), &st, WNOHANG) == 0;
  }

private:
  void wait_up() {
    const std::string prefix = "http://127.0.0.1:";
    auto line = proc_->wait_for_line([&](const std::string& l) { return l.rfind(prefix, 0) == 0; },
                                     30s);
    REQUIRE_MESSAGE(line, "amber ui printed no URL; stderr: " << proc_->err);
    url_ = *line;
    port_ = std::stoi(line->substr(prefix.size()));
    REQUIRE(port_ > 0);
    CHECK(url_ == prefix + std::to_string(port_) + "/");
  }

  std::unique_ptr<child> proc_;
  std::string url_;
  int port_ = 0;
};

} // namespace

// ------------------------------------------------------------------- API

TEST_CASE("ui answers on its API what log, show, graph, cat and diff print with --json") {
  const auto& store = history_store();
  ui_server ui(store);
  auto ids = log_ids(store);
  REQUIRE(ids.size() == 4);

  auto log = get_json(ui.port(), "/api/log");
  auto lines = json_lines(run_amber({"log", "--json", "--store", store}).out);
  CHECK(log.at("snapshots") == json(lines));
  CHECK(log.at("unreadable").empty());

  CHECK(get_json(ui.port(), "/api/snapshot/bank") == amber_json({"show", "bank", "--store", store}));
  // Every component with its type, package, state size and state version.
  auto shown = get_json(ui.port(), "/api/snapshot/" + ids[1]);
  REQUIRE(shown.at("components").size() == 1008);
  for (auto key : {"name", "type", "package", "state_bytes", "state_version"})
    CHECK_MESSAGE(shown.at("components")[0].contains(key), key);
  // A ref is one segment, its slashes percent-encoded; ancestry as on the command line.
  CHECK(get_json(ui.port(), "/api/snapshot/nodes%2Fbank%2Fhead").at("id") == ids[0]);
  CHECK(get_json(ui.port(), "/api/snapshot/bank~2").at("id") == ids[2]);

  auto graph = get_json(ui.port(), "/api/graph/" + ids[0].substr(0, 12));
  CHECK(graph.at("snapshot") == ids[0]);
  graph.erase("snapshot");
  CHECK(graph == amber_json({"graph", ids[0], "--store", store}));

  auto state = get_json(ui.port(), "/api/state/bank~1/acct-7");
  CHECK(state == amber_json({"cat", "bank~1", "acct-7", "--store", store}));
  CHECK(state.at("state").at("balance").is_number_integer());

  auto diff = get_json(ui.port(), "/api/diff/bank~1/bank");
  CHECK(diff == amber_json({"diff", "bank~1", "bank", "--store", store}));
  REQUIRE(diff.at("changed").size() > 0);
  // Each changed state's field-level lines, as the text of `amber diff` prints them.
  auto text = run_amber({"diff", "bank~1", "bank", "--store", store}).out;
  auto& first = diff.at("changed")[0];
  REQUIRE(first.at("state_diff_lines").size() > 0);
  for (auto& line : first.at("state_diff_lines"))
    CHECK_MESSAGE(contains(text, "\n  " + line.get<std::string>() + "\n"), line);
}

TEST_CASE("ui serves the page, its script and its style, and nothing else") {
  ui_server ui(history_store());
  auto page = get(ui.port(), "/");
  CHECK(page.status == 200);
  CHECK(contains(page.head, "Content-Type: text/html"));
  CHECK(contains(page.head, "Content-Security-Policy: default-src 'none'"));
  CHECK(contains(page.body, "<script src=\"app.js\"></script>"));
  CHECK(get(ui.port(), "/index.html").body == page.body);
  auto script = get(ui.port(), "/app.js");
  CHECK(script.status == 200);
  CHECK(contains(script.head, "Content-Type: text/javascript"));
  CHECK(contains(script.body, "/api/log"));
  CHECK(get(ui.port(), "/style.css").status == 200);
  CHECK(get(ui.port(), "/app.js", "HEAD").status == 200);
  for (auto target : {"/favicon.ico", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/ui/app.js",
                      "/app.js/", "/api", "/api/", "/api/logs", "/api/log/x", "/api/snapshot",
                      "/api/state/bank", "/api/diff/bank"})
    CHECK_MESSAGE(get(ui.port(), target).status == 404, target);
}

TEST_CASE("ui answers 404 for what does not exist and 400 for malformed names") {
  const auto& store = history_store();
  ui_server ui(store);
  auto expect = [&](const std::string& target, int code, const std::string& says) {
    auto r = get(ui.port(), target);
    INFO(target << " -> " << r.head << "\n" << r.body);
    CHECK(r.status == code);
    auto body = json::parse(r.body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(contains(body.at("error").at("message").get<std::string>(), says));
  };
  expect("/api/snapshot/" + std::string(64, '0'), 404, "0000");
  expect("/api/snapshot/ffffffffffff", 404, "ffffffffffff");
  expect("/api/snapshot/nobody", 404, "nobody");
  expect("/api/snapshot/bank~9", 404, "");
  expect("/api/graph/nobody", 404, "nobody");
  expect("/api/state/bank/acct-99999", 404, "no component 'acct-99999'");
  expect("/api/state/nobody/acct-1", 404, "nobody");
  expect("/api/diff/bank/nobody", 404, "nobody");

  expect("/api/snapshot/bank~x", 400, "bank~x");
  expect("/api/snapshot/%zz", 400, "two hex digits");
  expect("/api/snapshot/ab%2", 400, "two hex digits");
  expect("/api/snapshot/" + std::string(600, 'a'), 400, "at most 512");
  expect("/api/state/bank/", 400, "empty component name");
  expect("/api/state/bank/acct%00-1", 400, "control character");
  expect("/api/state/bank/acct%0a1", 400, "control character");
  expect("/api/state/bank/%ff%fe", 400, "not valid UTF-8");
  expect("/api/state/bank/%c0%af", 400, "not valid UTF-8"); // an overlong '/'
  expect("/api/state/bank/" + std::string(1100, 'x'), 400, "at most 1024");
  expect("/api/diff/bank/%01", 400, "control character");
  CHECK(get(ui.port(), "no-slash").status == 400);
  // A well-formed name that is simply not there, with non-ASCII in it.
  expect("/api/state/bank/caf%C3%A9", 404, "no component 'caf\xC3\xA9'");
}

TEST_CASE("ui refuses what a read-only local server must not answer, and outlives hostile clients") {
  ui_server ui(history_store());
  const std::string host = "Host: 127.0.0.1:" + std::to_string(ui.port()) + "\r\n";
  const std::string close = "Connection: close\r\n";

  auto post = parse_reply(http_exchange(ui.port(), "POST /api/log HTTP/1.1\r\n" + host + close
                                                  + "Content-Length: 5\r\n\r\nhello"));
  CHECK(post.status == 405);
  CHECK(contains(post.head, "Allow: GET, HEAD"));
  CHECK(get(ui.port(), "/api/log", "DELETE").status == 405);
  // Another site's page whose name resolves to 127.0.0.1 (DNS rebinding).
  auto rebound = parse_reply(http_exchange(
    ui.port(), "GET /api/log HTTP/1.1\r\nHost: evil.example:" + std::to_string(ui.port()) + "\r\n"
                 + close + "\r\n"));
  CHECK(rebound.status == 403);
  CHECK(parse_reply(http_exchange(ui.port(), "GET /api/log HTTP/1.0\r\n\r\n")).status == 403);
  auto local = parse_reply(http_exchange(ui.port(), "GET /api/log HTTP/1.1\r\nHost: localhost:"
                                                   + std::to_string(ui.port())
                                                   + "\r\nConnection: close\r\n\r\n"));
  CHECK(local.status == 200);

  CHECK(parse_reply(http_exchange(ui.port(), "garbage\r\n\r\n")).status == 400);
  CHECK(parse_reply(http_exchange(ui.port(), "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + host
                                            + close + "\r\n")).status == 414);
  auto huge_header = "GET /api/log HTTP/1.1\r\n" + host + close + "X-Big: " + std::string(20000, 'b')
                     + "\r\n\r\n";
  auto big = http_exchange(ui.port(), huge_header);
  CHECK((big.empty() || parse_reply(big).status >= 400)); // refused, or dropped
  auto body_too_big = parse_reply(http_exchange(ui.port(), "GET /api/log HTTP/1.1\r\n" + host + close
                                                           + "Content-Length: 1000000\r\n\r\n"
                                                           + std::string(70000, 'x')));
  CHECK(body_too_big.status == 400);
  CHECK(contains(body_too_big.body, "no body"));

  {
    // A client that never finishes its request is dropped after the read
    // timeout (5 s), with no answer.
    int fd = connect_to(ui.port());
    REQUIRE(fd >= 0);
    std::string partial = "GET /api/log HTTP/1.1\r\n" + host;
    ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    bool closed = false;
    auto start = std::chrono::steady_clock::now();
    auto got = read_until_closed(fd, 20s, &closed);
    ::close(fd);
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - start < 15s);
    CHECK(parse_reply(got).status != 200);
  }
  CHECK(ui.alive());
  CHECK(get(ui.port(), "/api/log").status == 200);
}

TEST_CASE("ui answers again once more idle connections than it serves and queues are dropped") {
  // Each idle connection holds a server thread until it is dropped (2 s).
  ui_server ui(history_store());
  const std::string host = "Host: 127.0.0.1:" + std::to_string(ui.port()) + "\r\n";
  {
    std::vector<int> idle;
    for (int i = 0; i < 100; ++i)
      if (int fd = connect_to(ui.port()); fd >= 0)
        idle.push_back(fd);
    CHECK(idle.size() == 100);
    auto start = std::chrono::steady_clock::now();
    auto r = parse_reply(http_exchange(ui.port(), "GET /api/log HTTP/1.1\r\n" + host
                                                 + "Connection: close\r\n\r\n", 60s));
    CHECK(r.status == 200);
    // 100 connections, 16 at a time, 2 s each: about 13 s.
    CHECK(std::chrono::steady_clock::now() - start < 40s);
    for (int fd : idle)
      ::close(fd);
  }
  CHECK(ui.alive());
  CHECK(get(ui.port(), "/api/log").status == 200);
}

TEST_CASE("ui --port: a taken port fails naming it, a bad one is a usage error; SIGTERM stops it") {
  const auto& store = history_store();
  ui_server first(store);
  auto taken = run_amber({"ui", "--store", store, "--port", std::to_string(first.port())}, 20s);
  CHECK(taken.code == 1);
  CHECK(contains(taken.err, "127.0.0.1:" + std::to_string(first.port())));
  CHECK(run_amber({"ui", "--store", store, "--port", "70000"}).code == 2);
  CHECK(run_amber({"ui", "--store", store, "--port", "-1"}).code == 2);
  scratch dir;
  CHECK(run_amber({"ui", "--store", dir / "none", "--port", "0"}).code == 3);

  // A chosen free port, and --json's one line.
  int port = free_port();
  child c({"ui", "--store", store, "--port", std::to_string(port), "--json"});
  auto line = c.wait_for_line([](const std::string& l) { return !l.empty(); }, 30s);
  REQUIRE_MESSAGE(line, c.err);
  auto j = json::parse(*line);
  CHECK(j.at("port") == port);
  CHECK(j.at("url") == "http://127.0.0.1:" + std::to_string(port) + "/");
  CHECK(get(port, "/api/log").status == 200);
  c.signal(SIGTERM);
  CHECK(c.wait(20s) == 0);
  CHECK(connect_to(port) < 0);
}

TEST_CASE("ui serves a store the user can only read") {
  if (!can_run_as_nobody())
    return;
  scratch dir;
  auto [store, bin] = make_read_only_copy(dir);
  {
    ui_server ui(command{"/usr/bin/setpriv",
                         {"--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, "ui",
                          "--store", store, "--port", "0"}});
    auto log = get_json(ui.port(), "/api/log");
    CHECK(log.at("snapshots").size() == 4);
    CHECK(get_json(ui.port(), "/api/diff/bank~1/bank").at("changed").size() > 0);
  }
  CHECK_FALSE(fs::exists(fs::path(store) / "lock.mdb"));
  fs::permissions(store, fs::perms::owner_all);
}

TEST_CASE("percent_decode and check_request_name") {
  using amber::cli::check_request_name;
  using amber::cli::percent_decode;
  CHECK(percent_decode("nodes%2Fbank%2fhead").value() == "nodes/bank/head");
  CHECK(percent_decode("a+b%20c").value() == "a+b c");
  CHECK(percent_decode("%00").value() == std::string(1, '\0'));
  for (auto bad : {"%", "%2", "a%g0", "%0g"})
    CHECK_MESSAGE(!percent_decode(bad), bad);
  CHECK(check_request_name("acct-7", "name", 16));
  CHECK(check_request_name("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "name", 64));
  CHECK_FALSE(check_request_name("", "name", 16));
  CHECK_FALSE(check_request_name(std::string(17, 'a'), "name", 16));
  CHECK_FALSE(check_request_name("a\x7f", "name", 16));
  for (auto bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82",
                   "\x80", "\xF8\x88\x80\x80\x80"})
    CHECK_MESSAGE(!check_request_name(bad, "name", 16), bad);
}

// ---------------------------------------------------------------- browser

namespace {

/// Headless Chromium, or empty (the browser tests are then skipped).
std::string chromium() {
  const char* given = std::getenv("AMBER_TEST_CHROMIUM");
  std::string path = given && *given ? given : "/usr/bin/chromium";
  return ::access(path.c_str(), X_OK) == 0 ? path : std::string();
}

bool skip_without_chromium() {
  if (!chromium().empty())
    return false;
  MESSAGE("SKIPPED: no Chromium at /usr/bin/chromium (or $AMBER_TEST_CHROMIUM); "
          "scripts/install-deps.sh installs Debian's chromium");
  return true;
}

/// The DOM of `url` once its scripts have run (Chromium's --dump-dom after
/// a virtual time budget; the page marks <body data-state="ready">).
std::string rendered(const std::string& url, const scratch& dir) {
  child browser(command{chromium(),
                        {"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--user-data-dir=" + dir / "chromium",
                         "--virtual-time-budget=30000", "--dump-dom", url},
                        /*own_group=*/true});
  int rc = browser.wait(120s);
  INFO("chromium stderr: " << browser.err.substr(0, 2000));
  REQUIRE(rc == 0);
  REQUIRE_MESSAGE(contains(browser.out, "data-state=\"ready\""), browser.out.substr(0, 3000));
  return browser.out;
}

/// Text as the DOM serializer escapes it, back to the text.
std::string unescape_html(std::string s) {
  for (auto [from, to] : {std::pair<const char*, const char*>{"&lt;", "<"}, {"&gt;", ">"},
                          {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}, {"&amp;", "&"}}) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += std::strlen(to))
      s.replace(at, std::strlen(from), to);
  }
  return s;
}

/// The first group of every match of `pattern` in `text`.
std::vector<std::string> all_of(const std::string& text, const std::string& pattern) {
  std::vector<std::string> out;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back(unescape_html((*it)[1]));
  return out;
}

/// The history store, served, with its snapshot ids (newest first) and a
/// scratch directory for the browser's profile.
struct served_history {
  const std::string& store = history_store();
  ui_server ui{store};
  scratch dir;
  std::vector<std::string> ids = log_ids(store);
  served_history() { REQUIRE(ids.size() == 4); }
};

} // namespace

TEST_CASE("the page in headless Chromium shows the history, components, a state and a diff") {
  if (skip_without_chromium())
    return;
  served_history served;
  auto& [store, ui, dir, ids] = served;
  auto dom = rendered(ui.url() + "#c=acct-7", dir);

  // The history DAG: a node per snapshot, an edge to each parent, the head marked.
  auto nodes = all_of(dom, R"re(<g class="dag-node[^"]*" data-id="([0-9a-f]{64})")re");
  CHECK(nodes == ids);
  for (auto& id : ids)
    CHECK_MESSAGE(contains(dom, ">" + id.substr(0, 12) + "</text>"), id);
  auto edges = all_of(
    dom, R"re(<path class="edge" d="[^"]*" data-from="([0-9a-f]{64}" data-to="[0-9a-f]{64})")re");
  std::set<std::string> edge_set(edges.begin(), edges.end());
  for (size_t i = 0; i + 1 < ids.size(); ++i)
    CHECK_MESSAGE(edge_set.count(ids[i] + "\" data-to=\"" + ids[i + 1]) == 1, ids[i]);
  CHECK(edges.size() == 3);
  // Selected, and the newer side of the diff shown.
  CHECK(contains(dom, "class=\"dag-node selected compared\" data-id=\"" + ids[0]));
  CHECK(contains(dom, "class=\"dag-node compared\" data-id=\"" + ids[1]));
  CHECK(contains(dom, ">nodes/bank/head</text>"));

  // The newest snapshot's components: every one, with type, package, size and version.
  auto shown = amber_json({"show", "bank", "--store", store});
  auto names = all_of(dom, R"re(<tr class="component[^"]*" data-name="([^"]*)")re");
  REQUIRE(names.size() == shown.at("components").size());
  for (size_t i = 0; i < names.size(); ++i)
    CHECK(names[i] == shown.at("components")[i].at("name"));
  CHECK(std::regex_search(dom, std::regex(R"re(data-name="acct-7"[^>]*><td class="mono">acct-7</td>)re"
                                          R"re(<td>bank\.account</td><td>bank@[0-9.]+</td>)re"
                                          R"re(<td class="num">\d+ B</td><td class="num">1</td>)re")));
  CHECK(contains(dom, "class=\"component selected\" data-name=\"acct-7\""));

  // acct-7's state: the JSON `amber cat` prints.
  auto state_text = all_of(dom, R"re(<pre id="state-json">([\s\S]*?)</pre>)re");
  REQUIRE(state_text.size() == 1);
  CHECK(json::parse(state_text[0])
        == amber_json({"cat", "bank", "acct-7", "--store", store}).at("state"));

  // The diff from its parent: its summary and the field-level lines of `amber diff`.
  auto diff = amber_json({"diff", "bank~1", "bank", "--store", store});
  auto summary = all_of(dom, R"re(<p id="diff-summary">([^<]*)</p>)re");
  REQUIRE(summary.size() == 1);
  CHECK(contains(summary[0], ids[1].substr(0, 12) + " → " + ids[0].substr(0, 12)));
  CHECK(contains(summary[0], std::to_string(diff.at("changed").size()) + " changed"));
  auto lines = all_of(dom, R"re(<li class="field">([^<]*)</li>)re");
  std::set<std::string> line_set(lines.begin(), lines.end());
  size_t checked = 0;
  for (auto& c : diff.at("changed")) {
    if (checked == 20 || !c.contains("state_diff_lines"))
      continue;
    ++checked;
    for (auto& line : c.at("state_diff_lines"))
      CHECK_MESSAGE(line_set.count(line.get<std::string>()) == 1, c.at("name") << ": " << line);
  }
  CHECK(checked == 20);

  // The graph: the wiring drawn per type (1,008 components) and listed.
  CHECK(contains(dom, "<h3>bank: 1008 components, 1000 wires</h3>"));
  CHECK(contains(dom, ">clearing × 1000</text>"));
  CHECK(contains(dom, R"re(<td class="mono">acct-0</td><td>--clearing--&gt;</td>)re"
                      R"re(<td class="mono">clearing-0</td>)re"));
}

TEST_CASE("the page shows two chosen snapshots' diff, an older state, and a missing component's error") {
  if (skip_without_chromium())
    return;
  served_history served;
  auto& [store, ui, dir, ids] = served;

  auto dom = rendered(ui.url() + "#s=bank~2&c=clearing-1&a=" + ids[3] + "&b=bank~1", dir);
  CHECK(contains(dom, "class=\"dag-node selected\" data-id=\"" + ids[2]));
  CHECK(contains(dom, "class=\"dag-node compared\" data-id=\"" + ids[3]));
  CHECK(contains(dom, "class=\"dag-node compared\" data-id=\"" + ids[1]));
  auto summary = all_of(dom, R"re(<p id="diff-summary">([^<]*)</p>)re");
  REQUIRE(summary.size() == 1);
  CHECK(contains(summary[0], ids[3].substr(0, 12) + " → " + ids[1].substr(0, 12)));
  auto diff = amber_json({"diff", ids[3], "bank~1", "--store", store});
  CHECK(contains(summary[0], std::to_string(diff.at("changed").size()) + " changed"));
  auto state_text = all_of(dom, R"re(<pre id="state-json">([\s\S]*?)</pre>)re");
  REQUIRE(state_text.size() == 1);
  CHECK(json::parse(state_text[0])
        == amber_json({"cat", "bank~2", "clearing-1", "--store", store}).at("state"));
  // The snapshot panel is the chosen one's.
  CHECK(contains(dom, "<code>" + ids[2] + "</code>"));

  // A component that is not there: said in the state panel, the rest shown.
  dom = rendered(ui.url() + "#c=acct-99999", dir);
  CHECK(contains(dom, "no component 'acct-99999'"));
  CHECK(contains(dom, "<p id=\"diff-summary\">"));
  // The root snapshot: nothing to compare with.
  dom = rendered(ui.url() + "#s=" + ids[3], dir);
  CHECK(contains(dom, "A root snapshot: nothing before it to compare with."));
}

// ------------------------------------------------------------ WebDriver

namespace {

/// A browser session driven over WebDriver (Debian's chromedriver, which
/// starts headless Chromium): clicks and keys as a user's.
class webdriver {
public:
  /// Starts chromedriver and a session; `ok()` is false (and `why_not` says
  /// why) when chromedriver or Chromium is missing.
  explicit webdriver(const scratch& dir) {
    const char* given = std::getenv("AMBER_TEST_CHROMEDRIVER");
    std::string path = given && *given ? given : "/usr/bin/chromedriver";
    if (::access(path.c_str(), X_OK) != 0 || chromium().empty()) {
      why_not = "no chromedriver at " + path + " (or no Chromium); scripts/install-deps.sh "
                "installs Debian's chromium-driver";
      return;
    }
    port_ = free_port();
    driver_ = std::make_unique<child>(
      command{path, {"--port=" + std::to_string(port_)}, /*own_group=*/true});
    auto up = driver_->wait_for_line(
      [](const std::string& l) { return contains(l, "started successfully"); }, 30s);
    REQUIRE_MESSAGE(up, "chromedriver did not start: " << driver_->out << driver_->err);
    json args = {"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking",
                 "--disable-component-update", "--window-size=1400,1000",
                 "--user-data-dir=" + dir / "webdriver-profile"};
    auto r = call("POST", "/session",
                  {{"capabilities",
                    {{"alwaysMatch",
                      {{"goog:chromeOptions", {{"binary", chromium()}, {"args", args}}}}}}}});
    session_ = r.at("sessionId").get<std::string>();
  }

  ~webdriver() {
    if (!session_.empty())
      raw("DELETE", "/session/" + session_, json());
  }

  bool ok() const { return !session_.empty(); }
  std::string why_not;

  void go(const std::string& url) { call("POST", path("/url"), {{"url", url}}); }

  /// Runs `script` (a function body) in the page; its return value.
  json run(const std::string& script) {
    return call("POST", path("/execute/sync"), {{"script", script}, {"args", json::array()}});
  }

  /// The element `css` selects (REQUIREd to exist).
  std::string find(const std::string& css) {
    auto r = call("POST", path("/element"), {{"using", "css selector"}, {"value", css}});
    return r.begin().value().get<std::string>();
  }

  void click(const std::string& css) {
    call("POST", path("/element/" + find(css) + "/click"), json::object());
  }

  void type(const std::string& css, const std::string& text) {
    call("POST", path("/element/" + find(css) + "/value"), {{"text", text}});
  }

  /// Waits until the page has rendered a view whose fragment contains `part`.
  void wait_ready(const std::string& part) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    json state;
    while (std::chrono::steady_clock::now() < deadline) {
      state = run("return [location.hash, document.body.dataset.state];");
      if (contains(state[0].get<std::string>(), part) && state[1] == "ready")
        return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL("the page did not get ready for '" << part << "': " << state.dump());
  }

private:
  std::string path(const std::string& rest) const { return "/session/" + session_ + rest; }

  http_reply raw(const std::string& method, const std::string& target, const json& body) {
    std::string text = body.is_null() ? std::string() : body.dump();
    return parse_reply(http_exchange(
      port_, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_)
               + "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: "
               + std::to_string(text.size()) + "\r\n\r\n" + text,
      60s));
  }

  json call(const std::string& method, const std::string& target, const json& body) {
    auto r = raw(method, target, body);
    INFO(method << " " << target << " " << body.dump() << " -> " << r.head << "\n" << r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body).at("value");
  }

  int port_ = 0;
  std::unique_ptr<child> driver_;
  std::string session_;
};

} // namespace

TEST_CASE("a user clicks through the page: a snapshot, a component, a filter, two snapshots to compare") {
  const auto& store = history_store();
  scratch dir;
  webdriver browser(dir);
  if (!browser.ok()) {
    MESSAGE("SKIPPED: " << browser.why_not);
    return;
  }
  ui_server ui(store);
  auto ids = log_ids(store);
  REQUIRE(ids.size() == 4);
  browser.go(ui.url());
  browser.wait_ready("");

  // A snapshot in the history DAG.
  browser.click("g.dag-node[data-id=\"" + ids[2] + "\"]");
  browser.wait_ready("s=" + ids[2]);
  CHECK(browser.run("return document.querySelector('#snapshot code').textContent;") == ids[2]);
  CHECK(browser.run("return document.querySelector('g.dag-node.selected').dataset.id;") == ids[2]);

  // A component of it: its state, as `amber cat` prints it.
  browser.click("tr.component[data-name=\"acct-3\"]");
  browser.wait_ready("c=acct-3");
  auto state = browser.run("return document.getElementById('state-json').textContent;");
  CHECK(json::parse(state.get<std::string>())
        == amber_json({"cat", ids[2], "acct-3", "--store", store}).at("state"));

  // The filter keeps the rows whose name or type holds the text.
  browser.type("#component-filter", "clearing");
  CHECK(browser.run("return [...document.querySelectorAll('tr.component')]"
                    ".filter(r => !r.hidden).map(r => r.dataset.name);")
        == json({"clearing-0", "clearing-1", "clearing-2", "clearing-3"}));

  // Two snapshots chosen in the diff form.
  browser.click("#diff-from option[value=\"" + ids[3] + "\"]");
  browser.click("#diff-to option[value=\"" + ids[0] + "\"]");
  browser.click("#diff-form button");
  browser.wait_ready("a=" + ids[3]);
  auto summary = browser.run("return document.getElementById('diff-summary').textContent;");
  CHECK(contains(summary.get<std::string>(), ids[3].substr(0, 12) + " → " + ids[0].substr(0, 12)));
  auto diff = amber_json({"diff", ids[3], ids[0], "--store", store});
  CHECK(contains(summary.get<std::string>(), std::to_string(diff.at("changed").size()) + " changed"));
  // The state shown is still the chosen component's, in the chosen snapshot.
  CHECK(browser.run("return location.hash;").get<std::string>().find("c=acct-3") != std::string::npos);

  // A component name in the diff opens its state in the newer snapshot.
  auto first = diff.at("changed")[0].at("name").get<std::string>();
  browser.click("li.changed[data-component=\"" + first + "\"] a");
  browser.wait_ready("c=" + first);
  CHECK(browser.run("return document.querySelector('#snapshot code').textContent;") == ids[0]);
  CHECK(json::parse(browser.run("return document.getElementById('state-json').textContent;")
                      .get<std::string>())
        == amber_json({"cat", ids[0], first, "--store", store}).at("state"));
}
