#include "amber/runtime/pg_sink.hpp"

#include <libpq-fe.h>

namespace amber {

namespace {

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  for (auto& c : s)
    if (c == '\n' || c == '\t')
      c = ' ';
  while (!s.empty() && s.back() == ' ')
    s.pop_back();
  return s;
}

} // namespace

status pg_sink::fail(const std::string& what) const {
  return status::io_error("PostgreSQL sink '" + name_ + "', table '" + table_ + "': " + what
                          + ": " + trimmed(conn_ ? PQerrorMessage(conn_) : "no connection"));
}

status pg_sink::connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK)
    return status::ok();
  if (conn_)
    PQreset(conn_);
  else
    conn_ = PQconnectdb(conninfo_.c_str());
  if (!conn_)
    return status::io_error("PostgreSQL sink '" + name_ + "', table '" + table_
                            + "': out of memory connecting");
  if (PQstatus(conn_) != CONNECTION_OK)
    return fail("connecting");
  if (quoted_.empty()) {
    char* q = PQescapeIdentifier(conn_, table_.c_str(), table_.size());
    if (!q)
      return fail("quoting the table name");
    quoted_ = q;
    PQfreemem(q);
  }
  return status::ok();
}

result<std::shared_ptr<pg_sink>> pg_sink::open(std::string name, std::string conninfo,
                                               std::string table) {
  std::shared_ptr<pg_sink> sink(
    new pg_sink(std::move(name), std::move(conninfo), std::move(table)));
  if (auto st = sink->connect(); !st.is_ok())
    return st;
  auto sql = "CREATE TABLE IF NOT EXISTS " + sink->quoted_
             + " (key text PRIMARY KEY, payload bytea NOT NULL)";
  PGresult* r = PQexec(sink->conn_, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok)
    return sink->fail("creating the table");
  return sink;
}

pg_sink::~pg_sink() {
  if (conn_)
    PQfinish(conn_);
}

status pg_sink::apply(const effect& e) {
  // A connection the server dropped (a restart) fails its next statement:
  // reconnect and try once more (the insert is idempotent, so a retry of
  // one that did commit inserts nothing).
  status st;
  for (int attempt = 0; attempt < 2; ++attempt) {
    st = connect();
    if (!st.is_ok())
      break;
    auto sql = "INSERT INTO " + quoted_
               + " (key, payload) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    const char* values[2] = {e.key.c_str(), e.payload.data()};
    int lengths[2] = {static_cast<int>(e.key.size()), static_cast<int>(e.payload.size())};
    int formats[2] = {0, 1}; // The key as text, the payload as binary bytea.
    PGresult* r = PQexecParams(conn_, sql.c_str(), 2, nullptr, values, lengths, formats, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok)
      return status::ok();
    st = fail("inserting effect '" + e.key + "'");
    PQfinish(conn_); // Start afresh next time.
    conn_ = nullptr;
  }
  return st;
}

} // namespace amber
