#pragma once

// @private One libpq connection of a PostgreSQL effect sink: connecting
// and reconnecting, running statements, and errors that name the sink.

#include <memory>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include "amber/storage/status.hpp"

namespace amber {

class pg_connection {
public:
  struct result_deleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using result_ptr = std::unique_ptr<PGresult, result_deleter>;

  /// `who` starts every error message, e.g. "PostgreSQL sink 'db', table 't'".
  pg_connection(std::string who, std::string conninfo)
    : who_(std::move(who)), conninfo_(std::move(conninfo)) {}
  ~pg_connection();
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  /// Connects, or reconnects a connection the server dropped.
  status connect();
  /// Closes the connection; the next `connect` starts afresh.
  void drop();
  bool connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

  /// Runs `sql` with text parameters (binary where `binary[i]`).
  result_ptr exec(const std::string& sql, const std::vector<std::string>& params = {},
                  const std::vector<bool>& binary = {});
  /// True when `r` has status `expected`.
  static bool ok(const result_ptr& r, ExecStatusType expected = PGRES_COMMAND_OK) {
    return r && PQresultStatus(r.get()) == expected;
  }
  /// The SQLSTATE of a failed statement ("" when there is none).
  static std::string sqlstate(const result_ptr& r);

  /// `name` as an SQL identifier / string literal; "" when libpq fails.
  std::string identifier(const std::string& name);
  std::string literal(const std::string& text);
  /// `bytes` as an escaped bytea literal ('\x…'), "" when libpq fails.
  std::string bytea_literal(const std::string& bytes);

  /// io_error "<who>: <what>: <libpq's message>".
  status fail(const std::string& what) const;
  /// The same, with the failed statement's message when `r` has one.
  status fail(const std::string& what, const result_ptr& r) const;

private:
  std::string who_;
  std::string conninfo_;
  PGconn* conn_ = nullptr;
};

} // namespace amber
