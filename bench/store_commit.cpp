// The cost of lmdb_store::commit (issue 10's guards, write lock, transaction
// record and last-commit fdatasync) against raw LMDB writing the same blobs,
// manifest and ref in one durable transaction, in the same run, on the same
// disk. Prints medians per commit and their ratio.
//
//   bench_store_commit [--commits N] [--blobs B] [--bytes S] [--dir DIR]

#include <lmdb.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "amber/storage/lmdb_store.hpp"
#include "bench_util.hpp"

namespace {

struct options {
  int commits = 200;
  int blobs = 10;
  int bytes = 1024;
  std::string dir;
};

std::vector<std::vector<amber::blob_put>> make_batches(const options& o) {
  std::mt19937 gen(1);
  std::vector<std::vector<amber::blob_put>> out(o.commits);
  for (auto& batch : out) {
    std::vector<std::string> raw;
    for (int i = 0; i < o.blobs; ++i) {
      std::string b(o.bytes, '\0');
      for (auto& c : b)
        c = static_cast<char>(gen());
      raw.push_back(std::move(b));
    }
    batch = amber::make_blob_puts(std::move(raw));
  }
  return out;
}

std::vector<double> run_raw(const std::string& dir,
                            const std::vector<std::vector<amber::blob_put>>& batches) {
  std::filesystem::create_directories(dir);
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 4);
  mdb_env_set_mapsize(env, size_t{1} << 32);
  if (mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644) != MDB_SUCCESS) {
    std::fprintf(stderr, "cannot open %s\n", dir.c_str());
    std::exit(1);
  }
  MDB_dbi blobs, manifests, refs;
  MDB_txn* t;
  mdb_txn_begin(env, nullptr, 0, &t);
  mdb_dbi_open(t, "blobs", MDB_CREATE, &blobs);
  mdb_dbi_open(t, "manifests", MDB_CREATE, &manifests);
  mdb_dbi_open(t, "refs", MDB_CREATE, &refs);
  mdb_txn_commit(t);
  std::vector<double> ms;
  int n = 0;
  for (auto& batch : batches) {
    auto t0 = bench::clock_type::now();
    mdb_txn_begin(env, nullptr, 0, &t);
    for (auto& b : batch) {
      MDB_val k{b.id.raw().size(), const_cast<char*>(b.id.raw().data())};
      MDB_val v{b.bytes.size(), const_cast<char*>(b.bytes.data())};
      mdb_put(t, blobs, &k, &v, MDB_NOOVERWRITE);
    }
    std::string manifest = "manifest " + std::to_string(n++);
    auto id = amber::sha256(manifest);
    MDB_val mk{32, const_cast<char*>(id.raw().data())};
    MDB_val mv{manifest.size(), manifest.data()};
    mdb_put(t, manifests, &mk, &mv, MDB_NOOVERWRITE);
    MDB_val rk{15, const_cast<char*>("nodes/bank/head")};
    mdb_put(t, refs, &rk, &mk, 0);
    if (mdb_txn_commit(t) != MDB_SUCCESS) {
      std::fprintf(stderr, "raw commit failed\n");
      std::exit(1);
    }
    ms.push_back(bench::seconds_since(t0) * 1000);
  }
  mdb_env_close(env);
  return ms;
}

std::vector<double> run_store(const std::string& dir,
                              std::vector<std::vector<amber::blob_put>> batches) {
  amber::lmdb_options o;
  o.create_if_missing = true;
  o.map_size = uint64_t{1} << 32;
  auto s = amber::lmdb_store::open(dir, o);
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error().to_string().c_str());
    std::exit(1);
  }
  std::vector<double> ms;
  int n = 0;
  for (auto& batch : batches) {
    amber::snapshot_commit c;
    c.manifest = "manifest " + std::to_string(n++);
    c.ref = "nodes/bank/head";
    c.check_expected_head = false;
    c.blobs = std::move(batch);
    auto t0 = bench::clock_type::now();
    auto r = (*s)->commit(c);
    ms.push_back(bench::seconds_since(t0) * 1000);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
      std::exit(1);
    }
  }
  return ms;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--commits")
      o.commits = std::atoi(argv[i + 1]);
    else if (k == "--blobs")
      o.blobs = std::atoi(argv[i + 1]);
    else if (k == "--bytes")
      o.bytes = std::atoi(argv[i + 1]);
    else if (k == "--dir")
      o.dir = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.dir.empty())
    o.dir = "./bench-store-commit." + std::to_string(::getpid());
  auto batches = make_batches(o);
  // Alternate the two, three rounds each, so that disk noise hits both.
  std::vector<double> raw, store;
  for (int round = 0; round < 3; ++round) {
    auto r = run_raw(o.dir + "/raw" + std::to_string(round), batches);
    auto s = run_store(o.dir + "/store" + std::to_string(round), batches);
    raw.insert(raw.end(), r.begin(), r.end());
    store.insert(store.end(), s.begin(), s.end());
  }
  std::filesystem::remove_all(o.dir);
  double mr = bench::median(raw), ms = bench::median(store);
  std::printf("durable commits of %d blobs x %d bytes + manifest + ref, %d per round, 3 rounds\n",
              o.blobs, o.bytes, o.commits);
  std::printf("raw LMDB          median %.3f ms\n", mr);
  std::printf("lmdb_store        median %.3f ms\n", ms);
  std::printf("ratio store/raw   %.2f\n", ms / mr);
  return 0;
}
