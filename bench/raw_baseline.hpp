#pragma once

// The raw bound of a checkpoint: what persisting N states costs with nothing
// but Boost.Serialization, OpenSSL and LMDB, no actors and no amber.
//
// Each state is saved with Boost's binary archive (the bytes amber stores for
// the same struct) into one reused, pre-reserved buffer, hashed with SHA-256
// (OpenSSL EVP) and put under its digest (MDB_NOOVERWRITE, as a
// content-addressed store does), all in one write transaction of a fresh,
// durable LMDB environment (MDB_NOTLS, fsync at commit: amber's flags). The
// clock runs from the transaction's begin to its commit; opening the
// environment is not timed.
//
// No CAF here. Threads: call from one thread.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <streambuf>
#include <string>
#include <vector>

#include <boost/archive/binary_oarchive.hpp>
#include <lmdb.h>
#include <openssl/evp.h>

#include "bench_util.hpp"

namespace bench {

/// A streambuf appending to a std::string, so Boost writes straight into a
/// reserved buffer (no ostream, no iostreams device).
class string_buf : public std::streambuf {
public:
  explicit string_buf(std::string* out) : out_(out) {}

protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->append(s, static_cast<size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      out_->push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }

private:
  std::string* out_;
};

inline void check_mdb(int rc, const char* what) {
  if (rc != MDB_SUCCESS) {
    std::fprintf(stderr, "raw baseline: %s: %s\n", what, mdb_strerror(rc));
    std::exit(1);
  }
}

struct raw_result {
  double seconds = 0; ///< Begin of the transaction to its durable commit.
  uint64_t bytes = 0; ///< Sum of the encoded sizes.
};

/// Persists every state of `states` as described at the top of this file
/// into a new LMDB environment in `dir` (created; must not exist).
/// `largest` is the largest encoded size expected (the buffer's reserve).
template <class State>
raw_result raw_checkpoint(const std::vector<State>& states, const std::string& dir,
                          size_t largest, uint64_t map_size) {
  std::filesystem::create_directories(dir);
  MDB_env* env = nullptr;
  check_mdb(mdb_env_create(&env), "mdb_env_create");
  check_mdb(mdb_env_set_mapsize(env, map_size), "mdb_env_set_mapsize");
  check_mdb(mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644), "mdb_env_open");
  std::string buf;
  buf.reserve(largest);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  raw_result out;
  auto t0 = clock_type::now();
  MDB_txn* txn = nullptr;
  check_mdb(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
  MDB_dbi dbi = 0;
  check_mdb(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
  for (auto& s : states) {
    buf.clear();
    {
      string_buf sb(&buf);
      boost::archive::binary_oarchive ar(sb);
      ar << s;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1
        || EVP_DigestUpdate(ctx, buf.data(), buf.size()) != 1
        || EVP_DigestFinal_ex(ctx, md, &md_len) != 1) {
      std::fprintf(stderr, "raw baseline: SHA-256 failed\n");
      std::exit(1);
    }
    MDB_val k{md_len, md};
    MDB_val v{buf.size(), buf.data()};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc != MDB_KEYEXIST)
      check_mdb(rc, "mdb_put");
    out.bytes += buf.size();
  }
  check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
  out.seconds = seconds_since(t0);
  EVP_MD_CTX_free(ctx);
  mdb_env_close(env);
  return out;
}

} // namespace bench
