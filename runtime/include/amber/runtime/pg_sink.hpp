#pragma once

// A PostgreSQL table of effects, exactly once per key (idempotent sink).
//
// `open` connects with a libpq conninfo string and creates
// `table(key text primary key, payload bytea)` when it is missing. Each
// `apply` is one `INSERT ... ON CONFLICT (key) DO NOTHING` statement, its own
// transaction: durable when it returns ok, and a key delivered again after a
// crash or a restore inserts nothing. A lost connection is reset on the next
// `apply`, so a server that comes back receives the effects left pending.
//
// Errors are io_error statuses naming the sink, the table and libpq's
// message. Built only when libpq is found (AMBER_HAVE_PG_SINK is defined).
//
// Threads: `apply` is called by one thread at a time (see effect.hpp).

#include <memory>
#include <string>

#include "amber/runtime/effect.hpp"
#include "amber/storage/status.hpp"

namespace amber {

class pg_connection;

class pg_sink final : public idempotent_sink {
public:
  /// Connects to `conninfo` (libpq syntax, e.g. "host=/tmp/pg dbname=x")
  /// and creates `table` when missing. The sink is named `name`.
  /// @return the sink; io_error when the server cannot be reached or the
  /// table cannot be created.
  static result<std::shared_ptr<pg_sink>> open(std::string name, std::string conninfo,
                                               std::string table);
  ~pg_sink() override;
  pg_sink(const pg_sink&) = delete;
  pg_sink& operator=(const pg_sink&) = delete;

  const std::string& name() const override { return name_; }
  /// @return ok (inserted, or a key inserted before); io_error.
  status apply(const effect& e) override;

  const std::string& table() const { return table_; }

private:
  pg_sink(std::string name, std::string table, std::unique_ptr<pg_connection> conn);

  std::string name_;
  std::string table_;
  std::string quoted_; ///< The table as an SQL identifier.
  std::unique_ptr<pg_connection> conn_;
};

} // namespace amber
