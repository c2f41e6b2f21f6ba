#pragma once

// A PostgreSQL table of effects, written in two-phase transactions
// (transactional sink): the effects of checkpoint E are inserted in one
// transaction, `PREPARE TRANSACTION`ed while the checkpoint runs and
// `COMMIT PREPARED` once its snapshot (or cluster snapshot) committed.
//
// `open` creates `table(key text primary key, payload bytea)` and
// `<table>_txns(gid text primary key, committed_at timestamptz)` when they
// are missing. Each transaction also inserts its id into `<table>_txns`:
// the row is visible only once it committed, so `commit` can tell a
// transaction committed before (ok) from one that was aborted (not_found).
// Rows are inserted with `ON CONFLICT (key) DO NOTHING`, so an effect
// re-issued after a restore to an older snapshot is not written twice.
//
// The server must allow prepared transactions (`max_prepared_transactions`
// > 0; PostgreSQL's default is 0): `open` refuses a server that does not.
// A prepared transaction holds its rows' locks until committed; the
// runtime reports the oldest one's age (node::effect_stats()).
// `<table>_txns` keeps one row per committed transaction; delete old rows
// at will (a row is needed only while a snapshot listing its transaction
// as prepared may still be restored).
//
// Errors are io_error statuses naming the sink, the table and the server's
// message. Built only when libpq is found (AMBER_HAVE_PG_SINK is defined).
// Threads: called by one thread at a time (see effect.hpp).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "amber/runtime/effect.hpp"
#include "amber/storage/status.hpp"

namespace amber {

class pg_connection;

class pg_txn_sink final : public transactional_sink {
public:
  /// Connects to `conninfo` (libpq syntax) and creates the tables when
  /// missing. @return the sink; io_error when the server cannot be reached
  /// or the tables cannot be created; invalid_argument when the server
  /// has max_prepared_transactions = 0.
  static result<std::shared_ptr<pg_txn_sink>> open(std::string name, std::string conninfo,
                                                   std::string table);
  ~pg_txn_sink() override;
  pg_txn_sink(const pg_txn_sink&) = delete;
  pg_txn_sink& operator=(const pg_txn_sink&) = delete;

  const std::string& name() const override { return name_; }
  status prepare(const std::string& txn, const std::vector<effect>& effects) override;
  status commit(const std::string& txn) override;
  status abort(const std::string& txn) override;
  result<std::vector<std::string>> in_doubt(const std::string& prefix) override;

  const std::string& table() const { return table_; }

private:
  pg_txn_sink(std::string name, std::string table, std::unique_ptr<pg_connection> conn);
  status try_prepare(const std::string& txn, const std::vector<effect>& effects);
  result<bool> is_prepared(const std::string& txn);
  /// Runs `attempt` on a connected connection; once more after a drop.
  status with_reconnect(const std::function<status()>& attempt);

  std::string name_;
  std::string table_;
  std::string quoted_;      ///< The table as an SQL identifier.
  std::string quoted_txns_; ///< <table>_txns as an SQL identifier.
  std::unique_ptr<pg_connection> conn_;
};

} // namespace amber
