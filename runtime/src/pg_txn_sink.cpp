#include "amber/runtime/pg_txn_sink.hpp"

#include "pg_connection.hpp"

namespace amber {

namespace {

// SQLSTATEs: the prepared transaction does not exist / exists already.
constexpr const char* undefined_object = "42704";
constexpr const char* duplicate_object = "42710";

// Rows per INSERT statement: big enough to be one round trip for most
// checkpoints, small enough to keep a statement's text moderate.
constexpr size_t rows_per_statement = 500;

} // namespace

pg_txn_sink::pg_txn_sink(std::string name, std::string table,
                         std::unique_ptr<pg_connection> conn)
  : name_(std::move(name)), table_(std::move(table)), conn_(std::move(conn)) {}

pg_txn_sink::~pg_txn_sink() = default;

result<std::shared_ptr<pg_txn_sink>> pg_txn_sink::open(std::string name, std::string conninfo,
                                                       std::string table) {
  auto conn = std::make_unique<pg_connection>(
    "PostgreSQL sink '" + name + "', table '" + table + "'", std::move(conninfo));
  AMBER_RETURN_IF_ERROR(conn->connect());
  auto r = conn->exec("SHOW max_prepared_transactions");
  if (!pg_connection::ok(r, PGRES_TUPLES_OK) || PQntuples(r.get()) != 1)
    return conn->fail("reading max_prepared_transactions", r);
  if (std::string(PQgetvalue(r.get(), 0, 0)) == "0")
    return status(errc::invalid_argument,
                  "PostgreSQL sink '" + name + "': the server has max_prepared_transactions = 0, "
                  "so it cannot prepare transactions; set it (postgresql.conf) to at least the "
                  "number of transactional sinks of all nodes using the server, and restart it");
  std::shared_ptr<pg_txn_sink> sink(
    new pg_txn_sink(std::move(name), std::move(table), std::move(conn)));
  auto& c = *sink->conn_;
  sink->quoted_ = c.identifier(sink->table_);
  sink->quoted_txns_ = c.identifier(sink->table_ + "_txns");
  if (sink->quoted_.empty() || sink->quoted_txns_.empty())
    return c.fail("quoting the table name");
  r = c.exec("CREATE TABLE IF NOT EXISTS " + sink->quoted_
             + " (key text PRIMARY KEY, payload bytea NOT NULL)");
  if (!pg_connection::ok(r))
    return c.fail("creating the table", r);
  r = c.exec("CREATE TABLE IF NOT EXISTS " + sink->quoted_txns_
             + " (gid text PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT now())");
  if (!pg_connection::ok(r))
    return c.fail("creating its transaction table", r);
  return sink;
}

result<bool> pg_txn_sink::is_prepared(const std::string& txn) {
  auto r = conn_->exec("SELECT 1 FROM pg_prepared_xacts WHERE gid = $1", {txn});
  if (!pg_connection::ok(r, PGRES_TUPLES_OK))
    return conn_->fail("looking up prepared transaction " + txn, r);
  return PQntuples(r.get()) > 0;
}

status pg_txn_sink::try_prepare(const std::string& txn, const std::vector<effect>& effects) {
  auto gid = conn_->literal(txn);
  if (gid.empty())
    return conn_->fail("quoting transaction id " + txn);
  auto r = conn_->exec("BEGIN");
  if (!pg_connection::ok(r))
    return conn_->fail("beginning transaction " + txn, r);
  auto rollback = [&](status st) {
    conn_->exec("ROLLBACK");
    return st;
  };
  for (size_t i = 0; i < effects.size(); i += rows_per_statement) {
    std::string sql = "INSERT INTO " + quoted_ + " (key, payload) VALUES ";
    for (size_t j = i; j < effects.size() && j < i + rows_per_statement; ++j) {
      auto key = conn_->literal(effects[j].key);
      auto payload = conn_->bytea_literal(effects[j].payload);
      if (key.empty() || payload.empty())
        return rollback(conn_->fail("quoting effect '" + effects[j].key + "'"));
      sql += (j == i ? "(" : ",(") + key + "," + payload + ")";
    }
    sql += " ON CONFLICT (key) DO NOTHING";
    r = conn_->exec(sql);
    if (!pg_connection::ok(r))
      return rollback(conn_->fail("inserting the effects of transaction " + txn, r));
  }
  r = conn_->exec("INSERT INTO " + quoted_txns_ + " (gid) VALUES ($1) ON CONFLICT DO NOTHING",
                  {txn});
  if (!pg_connection::ok(r))
    return rollback(conn_->fail("recording transaction " + txn, r));
  r = conn_->exec("PREPARE TRANSACTION " + gid);
  if (pg_connection::ok(r))
    return status::ok();
  if (pg_connection::sqlstate(r) == duplicate_object) {
    // Prepared before by a call whose answer was lost (the connection
    // dropped): the same effects, so that one stands.
    auto st = conn_->fail("preparing transaction " + txn, r);
    conn_->exec("ROLLBACK"); // PREPARE failing leaves the transaction aborted.
    auto there = is_prepared(txn);
    if (there && *there)
      return status::ok();
    return st;
  }
  return conn_->fail("preparing transaction " + txn, r);
}

status pg_txn_sink::with_reconnect(const std::function<status()>& attempt) {
  // A dropped connection (a server restart) is reconnected and the call
  // tried once more: every call here is safe to repeat (a transaction cut
  // short by the drop was never prepared; commit and abort of a finished
  // one are no-ops).
  status st;
  for (int tries = 0; tries < 2; ++tries) {
    AMBER_RETURN_IF_ERROR(conn_->connect());
    st = attempt();
    if (st.is_ok() || conn_->connected())
      return st;
    conn_->drop();
  }
  return st;
}

status pg_txn_sink::prepare(const std::string& txn, const std::vector<effect>& effects) {
  return with_reconnect([&] { return try_prepare(txn, effects); });
}

status pg_txn_sink::commit(const std::string& txn) {
  return with_reconnect([&]() -> status {
    auto gid = conn_->literal(txn);
    if (gid.empty())
      return conn_->fail("quoting transaction id " + txn);
    auto r = conn_->exec("COMMIT PREPARED " + gid);
    if (pg_connection::ok(r))
      return status::ok();
    if (pg_connection::sqlstate(r) != undefined_object)
      return conn_->fail("committing prepared transaction " + txn, r);
    // Not prepared: committed before (its row is there) or aborted.
    auto q = conn_->exec("SELECT 1 FROM " + quoted_txns_ + " WHERE gid = $1", {txn});
    if (!pg_connection::ok(q, PGRES_TUPLES_OK))
      return conn_->fail("looking up transaction " + txn, q);
    if (PQntuples(q.get()) > 0)
      return status::ok();
    return status::not_found("PostgreSQL sink '" + name_ + "': transaction " + txn
                             + " is neither prepared nor committed (it was aborted)");
  });
}

status pg_txn_sink::abort(const std::string& txn) {
  return with_reconnect([&]() -> status {
    auto gid = conn_->literal(txn);
    if (gid.empty())
      return conn_->fail("quoting transaction id " + txn);
    auto r = conn_->exec("ROLLBACK PREPARED " + gid);
    if (pg_connection::ok(r) || pg_connection::sqlstate(r) == undefined_object)
      return status::ok();
    return conn_->fail("aborting prepared transaction " + txn, r);
  });
}

result<std::vector<std::string>> pg_txn_sink::in_doubt(const std::string& prefix) {
  AMBER_RETURN_IF_ERROR(conn_->connect());
  auto r = conn_->exec("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
                       "AND left(gid, length($1)) = $1 ORDER BY prepared",
                       {prefix});
  if (!pg_connection::ok(r, PGRES_TUPLES_OK)) {
    auto st = conn_->fail("listing prepared transactions", r);
    conn_->drop();
    return st;
  }
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.emplace_back(PQgetvalue(r.get(), i, 0));
  return out;
}

} // namespace amber
