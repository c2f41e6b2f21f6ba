#include "cli_common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <fmt/core.h>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/history.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"

namespace amber::cli {

void context::finish_setup() {
  if (!store_dir.empty()) {
    store_given = true;
  } else if (const char* env = std::getenv("AMBER_STORE"); env && *env) {
    store_dir = env;
    store_given = true;
  } else {
    store_dir = "./amber-data";
  }
  progress = !json && ::isatty(STDOUT_FILENO) == 1;
}

namespace {
std::string& program_name_storage() {
  static std::string name = "amber";
  return name;
}
} // namespace

void set_program_name(std::string name) {
  program_name_storage() = std::move(name);
}

const std::string& program_name() {
  return program_name_storage();
}

std::string types_hint(const context& ctx) {
  std::string list;
  for (auto& t : ctx.known_types)
    list += (list.empty() ? "" : ", ") + t;
  return "this binary (" + ctx.program + ") knows types: " + (list.empty() ? "none" : list)
         + "; a service runs its own types from its own binary, built with amber::cli::main "
           "(docs/CLI.md)";
}

std::string kept_branch_ref(const std::string& node_name, const digest& head) {
  return "nodes/" + node_name + "/kept/" + head.to_hex().substr(0, 12);
}

int exit_code_for(const status& st) {
  switch (st.code()) {
    case errc::not_found:
    case errc::not_a_store:
      return exit_not_found;
    case errc::timeout:
      return exit_unreachable;
    default:
      return exit_failure;
  }
}

nlohmann::json to_json(const status& st) {
  return {{"code", to_string(st.code())}, {"message", st.message()}};
}

void print_json(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int fail(const context& ctx, const status& given, int code) {
  std::fflush(stdout);
  status st = given;
  if (st.code() == errc::unknown_type)
    st = status(st.code(), st.message() + "; " + types_hint(ctx));
  fmt::print(stderr, "{}: error: {}\n", program_name(), st.to_string());
  if (ctx.json) {
    auto err = to_json(st);
    err["exit"] = code;
    print_json({{"error", err}});
  }
  return code;
}

int fail(const context& ctx, const status& st) {
  return fail(ctx, st, exit_code_for(st));
}

void warn(const std::string& text) {
  std::fflush(stdout);
  fmt::print(stderr, "{}: warning: {}\n", program_name(), text);
}

result<std::shared_ptr<lmdb_store>> open_store(const context& ctx, store_access access,
                                               std::chrono::milliseconds lock_timeout) {
  lmdb_options opts;
  opts.create_if_missing = access == store_access::create;
  opts.read_only = access == store_access::read;
  opts.lock_timeout = lock_timeout;
  opts.on_lock_wait = [dir = ctx.store_dir, lock_timeout](const std::string& holder) {
    warn(fmt::format("waiting up to {} ms for the write lock of the store at {}, held by {}",
                     lock_timeout.count(), dir, holder));
  };
  auto db = lmdb_store::open(ctx.store_dir, opts);
  if (!db && db.error().code() == errc::not_a_store && !ctx.store_given)
    return status(errc::not_a_store, db.error().message()
                                       + " (pass --store DIR or set AMBER_STORE)");
  return db;
}

namespace {

// Lists the candidates of an ambiguous prefix, one per line.
std::string describe_candidates(store& s, const std::vector<digest>& ids) {
  std::string out;
  std::string bytes;
  for (auto& id : ids) {
    out += "\n  " + id.short_hex();
    if (s.get_manifest(id, &bytes)) {
      if (is_cluster_manifest(bytes)) {
        if (auto c = decode_cluster_manifest(bytes))
          out += fmt::format("  {}  cluster {} #{} epoch {}", local_time(c->created_at_ms),
                             c->cluster, c->incarnation, c->epoch);
      } else if (auto m = decode_manifest(bytes)) {
        out += fmt::format("  {}  {} #{}", local_time(m->created_at_ms), m->node.name,
                           m->node.incarnation);
      }
    }
  }
  return out;
}

} // namespace

result<digest> resolve_spec(store& s, std::string_view spec) {
  return resolve_snapshot(s, spec);
}

int resolve(const context& ctx, store& s, std::string_view spec, digest* out) {
  auto id = resolve_snapshot(s, spec);
  if (!id) {
    auto base = snapshot_spec_base(spec);
    if (id.error().code() == errc::invalid_argument && is_hex_prefix(base) && base.size() >= 4) {
      auto matches = find_by_prefix(s, base);
      if (matches && matches->size() > 1)
        return fail(ctx,
                    status::invalid_argument("short id '" + std::string(base) + "' is ambiguous: it matches "
                                             + std::to_string(matches->size()) + " snapshots; type more digits"
                                             + describe_candidates(s, *matches)),
                    exit_ambiguous);
    }
    // A malformed `~N` is a bad command line (exit 2), like an unknown option.
    auto suffix = spec.substr(base.size());
    bool bad_suffix = suffix.size() > 10
                      || suffix.find_first_not_of("0123456789", 1) != std::string_view::npos;
    return fail(ctx, id.error(), bad_suffix ? exit_usage : exit_code_for(id.error()));
  }
  *out = *id;
  return 0;
}

void progress_line::update(const progress_event& e) {
  if (!enabled_)
    return;
  auto now = std::chrono::steady_clock::now();
  bool last = e.total > 0 && e.done == e.total;
  if (shown_ && !last && now - last_ < std::chrono::milliseconds(100))
    return;
  last_ = now;
  std::string line;
  if (e.total > 0)
    line = fmt::format("{}: {}/{} ({}%)", e.phase, e.done, e.total, e.done * 100 / e.total);
  else
    line = fmt::format("{}: {}", e.phase, e.done);
  fmt::print(stdout, "\r{}\x1b[K", line);
  std::fflush(stdout);
  shown_ = true;
}

void progress_line::done() {
  if (!shown_)
    return;
  fmt::print(stdout, "\r\x1b[K");
  std::fflush(stdout);
  shown_ = false;
}

std::string human_bytes(uint64_t n) {
  if (n < 1024)
    return fmt::format("{} B", n);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string local_time(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (!::localtime_r(&t, &tm))
    return std::to_string(unix_ms);
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
    return std::to_string(unix_ms);
  return buf;
}

std::string iso_utc(int64_t unix_ms) {
  int64_t secs = unix_ms / 1000;
  int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm))
    return std::to_string(unix_ms);
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
    return std::to_string(unix_ms);
  return fmt::format("{}.{:03}Z", buf, ms);
}

result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  auto bad = [&] {
    return status::invalid_argument("'" + std::string(text)
                                    + "' is not a duration (e.g. 500ms, 10s, 5m, 1h)");
  };
  if (i == 0 || i > 12)
    return bad();
  uint64_t n = std::stoull(std::string(text.substr(0, i)));
  auto unit = text.substr(i);
  if (unit == "ms")
    return std::chrono::milliseconds(n);
  if (unit == "s" || unit.empty())
    return std::chrono::milliseconds(n * 1000);
  if (unit == "m")
    return std::chrono::milliseconds(n * 60'000);
  if (unit == "h")
    return std::chrono::milliseconds(n * 3'600'000);
  return bad();
}

result<endpoint> parse_endpoint(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return status::invalid_argument("'" + std::string(text) + "' is not HOST:PORT (" + why + ")");
  };
  endpoint out;
  std::string_view port_text = text;
  auto colon = text.rfind(':');
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("an IPv6 address goes in brackets: [::1]:PORT");
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else if (colon != std::string_view::npos) {
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos)
      return bad("an IPv6 address goes in brackets: [::1]:PORT");
  } else {
    out.host = "127.0.0.1";
  }
  if (out.host.empty())
    return bad("the host is empty");
  if (port_text.empty() || port_text.size() > 5)
    return bad("the port must be a number from 0 to 65535");
  for (char c : port_text)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return bad("the port must be a number from 0 to 65535");
  auto port = std::stoul(std::string(port_text));
  if (port > 65535)
    return bad("the port must be a number from 0 to 65535");
  out.port = static_cast<uint16_t>(port);
  return out;
}

bool is_loopback(std::string_view host) {
  // Parsed, never matched as text: "127.attacker.invalid" is a name that
  // resolves anywhere, not an address in 127.0.0.0/8.
  if (host == "localhost")
    return true;
  std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

} // namespace amber::cli
