#pragma once

// A throwaway PostgreSQL server from Debian's postgresql package, in a
// temporary directory on a Unix socket (as the unprivileged user amberpg
// when the test runs as root), stopped on scope exit; prepared transactions
// allowed. Without the server binaries `why_not()` says so (tests skip).

#include <cstdlib>
#include <filesystem>
#include <vector>
#include <string>

#include <libpq-fe.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

namespace test {

namespace fs = std::filesystem;

// The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl (or the
// directory in AMBER_PG_BIN); empty when none.
inline fs::path pg_bin() {
  if (const char* env = std::getenv("AMBER_PG_BIN")) {
    fs::path bin = env;
    return fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") ? bin : fs::path();
  }
  fs::path best;
  std::error_code ec;
  for (auto& d : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    auto bin = d.path() / "bin";
    if (fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") && bin > best)
      best = bin;
  }
  return best;
}

// A throwaway server in a temporary directory, stopped on scope exit.
class pg_server {
public:
  explicit pg_server(int max_prepared_transactions = 8)
    : dir_("amber-pg"), max_prepared_(max_prepared_transactions) {
    bin_ = pg_bin();
    if (bin_.empty()) {
      why_ = "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin"
             " or AMBER_PG_BIN (apt-get install postgresql)";
      return;
    }
    fs::create_directories(dir_.path());
    if (::getuid() == 0) {
      if (std::system("id -u amberpg >/dev/null 2>&1 || useradd -r amberpg") != 0) {
        why_ = "running as root and cannot create the user amberpg for initdb";
        return;
      }
      as_ = "runuser -u amberpg -- ";
      if (std::system(("chown amberpg " + dir_.str()).c_str()) != 0) {
        why_ = "cannot chown " + dir_.str() + " to amberpg";
        return;
      }
    }
    auto init = as_ + (bin_ / "initdb").string() + " -D " + data() + " -A trust -U amber"
                + " >" + dir_.str() + "/initdb.log 2>&1";
    if (std::system(init.c_str()) != 0) {
      why_ = "initdb failed (see " + dir_.str() + "/initdb.log)";
      return;
    }
    if (!start())
      why_ = "pg_ctl start failed";
  }
  ~pg_server() { stop(); }
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  bool start() {
    auto cmd = as_ + (bin_ / "pg_ctl").string() + " -D " + data() + " -l " + dir_.str()
               + "/server.log -o \"-k " + dir_.str()
               + " -c listen_addresses='' -c max_prepared_transactions=" + std::to_string(max_prepared_) + "\" -w start"
               + " >/dev/null 2>&1";
    running_ = std::system(cmd.c_str()) == 0;
    return running_;
  }
  void stop() {
    if (!running_)
      return;
    auto cmd = as_ + (bin_ / "pg_ctl").string() + " -D " + data()
               + " -m immediate stop >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
    running_ = false;
  }

  /// Empty when the server runs; else why it does not.
  const std::string& why_not() const { return why_; }
  std::string conninfo() const { return "host=" + dir_.str() + " user=amber dbname=postgres"; }

private:
  std::string data() const { return dir_.str() + "/data"; }

  temp_dir dir_;
  int max_prepared_;
  fs::path bin_;
  std::string as_;
  std::string why_;
  bool running_ = false;
};

/// Runs `sql` (one column) and returns its rows; {"ERROR: ..."} on failure.
inline std::vector<std::string> pg_query(const std::string& conninfo, const std::string& sql) {
  std::vector<std::string> out;
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    out.push_back(std::string("ERROR: ") + PQerrorMessage(c));
    PQfinish(c);
    return out;
  }
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    out.push_back(std::string("ERROR: ") + PQresultErrorMessage(r));
  else
    for (int i = 0; i < PQntuples(r); ++i)
      out.emplace_back(PQgetvalue(r, i, 0));
  PQclear(r);
  PQfinish(c);
  return out;
}

} // namespace test
