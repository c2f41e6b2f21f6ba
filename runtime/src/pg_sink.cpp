#include "amber/runtime/pg_sink.hpp"

#include "pg_connection.hpp"

namespace amber {

pg_sink::pg_sink(std::string name, std::string table, std::unique_ptr<pg_connection> conn)
  : name_(std::move(name)), table_(std::move(table)), conn_(std::move(conn)) {}

pg_sink::~pg_sink() = default;

result<std::shared_ptr<pg_sink>> pg_sink::open(std::string name, std::string conninfo,
                                               std::string table) {
  auto conn = std::make_unique<pg_connection>(
    "PostgreSQL sink '" + name + "', table '" + table + "'", std::move(conninfo));
  AMBER_RETURN_IF_ERROR(conn->connect());
  auto quoted = conn->identifier(table);
  if (quoted.empty())
    return conn->fail("quoting the table name");
  auto r = conn->exec("CREATE TABLE IF NOT EXISTS " + quoted
                      + " (key text PRIMARY KEY, payload bytea NOT NULL)");
  if (!pg_connection::ok(r))
    return conn->fail("creating the table", r);
  std::shared_ptr<pg_sink> sink(new pg_sink(std::move(name), std::move(table), std::move(conn)));
  sink->quoted_ = std::move(quoted);
  return sink;
}

status pg_sink::apply(const effect& e) {
  // A connection the server dropped (a restart) fails its next statement:
  // reconnect and try once more (the insert is idempotent, so a retry of
  // one that did commit inserts nothing).
  status st;
  for (int attempt = 0; attempt < 2; ++attempt) {
    st = conn_->connect();
    if (!st.is_ok())
      break;
    auto r = conn_->exec("INSERT INTO " + quoted_
                           + " (key, payload) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                         {e.key, e.payload}, {false, true});
    if (pg_connection::ok(r))
      return status::ok();
    st = conn_->fail("inserting effect '" + e.key + "'", r);
    conn_->drop(); // Start afresh next time.
  }
  return st;
}

} // namespace amber
