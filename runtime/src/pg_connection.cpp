#include "pg_connection.hpp"

namespace amber {

namespace {

std::string one_line(const char* msg) {
  std::string s = msg ? msg : "";
  for (auto& c : s)
    if (c == '\n' || c == '\t')
      c = ' ';
  while (!s.empty() && s.back() == ' ')
    s.pop_back();
  return s;
}

} // namespace

pg_connection::~pg_connection() {
  drop();
}

void pg_connection::drop() {
  if (conn_)
    PQfinish(conn_);
  conn_ = nullptr;
}

status pg_connection::connect() {
  if (connected())
    return status::ok();
  if (conn_)
    PQreset(conn_);
  else
    conn_ = PQconnectdb(conninfo_.c_str());
  if (!conn_)
    return status::io_error(who_ + ": out of memory connecting");
  if (PQstatus(conn_) != CONNECTION_OK)
    return fail("connecting");
  // The server's notices ("relation exists, skipping") are not errors:
  // libpq would print them to stderr.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  return status::ok();
}

pg_connection::result_ptr pg_connection::exec(const std::string& sql,
                                              const std::vector<std::string>& params,
                                              const std::vector<bool>& binary) {
  if (!conn_)
    return nullptr;
  if (params.empty())
    return result_ptr(PQexec(conn_, sql.c_str()));
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (size_t i = 0; i < params.size(); ++i) {
    values.push_back(params[i].data());
    lengths.push_back(static_cast<int>(params[i].size()));
    formats.push_back(i < binary.size() && binary[i] ? 1 : 0);
  }
  return result_ptr(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                 values.data(), lengths.data(), formats.data(), 0));
}

std::string pg_connection::sqlstate(const result_ptr& r) {
  if (!r)
    return {};
  const char* s = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return s ? s : "";
}

std::string pg_connection::identifier(const std::string& name) {
  if (!conn_)
    return {};
  char* q = PQescapeIdentifier(conn_, name.c_str(), name.size());
  if (!q)
    return {};
  std::string out = q;
  PQfreemem(q);
  return out;
}

std::string pg_connection::literal(const std::string& text) {
  if (!conn_)
    return {};
  char* q = PQescapeLiteral(conn_, text.c_str(), text.size());
  if (!q)
    return {};
  std::string out = q;
  PQfreemem(q);
  return out;
}

std::string pg_connection::bytea_literal(const std::string& bytes) {
  if (!conn_)
    return {};
  size_t n = 0;
  auto* q = PQescapeByteaConn(conn_, reinterpret_cast<const unsigned char*>(bytes.data()),
                              bytes.size(), &n);
  if (!q)
    return {};
  std::string out = "'" + std::string(reinterpret_cast<char*>(q)) + "'::bytea";
  PQfreemem(q);
  return out;
}

status pg_connection::fail(const std::string& what) const {
  return status::io_error(who_ + ": " + what + ": "
                          + one_line(conn_ ? PQerrorMessage(conn_) : "no connection"));
}

status pg_connection::fail(const std::string& what, const result_ptr& r) const {
  if (r && PQresultErrorMessage(r.get())[0] != '\0')
    return status::io_error(who_ + ": " + what + ": " + one_line(PQresultErrorMessage(r.get())));
  return fail(what);
}

} // namespace amber
