#include "amber/storage/digest.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include <openssl/evp.h>

#include "amber/storage/hex.hpp"

namespace amber {

std::string digest::to_hex() const {
  return amber::to_hex(raw());
}

bool digest::is_zero() const {
  for (auto b : bytes)
    if (b != 0)
      return false;
  return true;
}

result<digest> digest::from_hex(std::string_view hex) {
  if (hex.size() != size * 2)
    return status::invalid_argument("snapshot id '" + std::string(hex)
                                    + "' is not 64 hex digits");
  auto raw = amber::from_hex(hex);
  if (!raw)
    return status::invalid_argument("snapshot id '" + std::string(hex)
                                    + "' has a non-hex character");
  digest out;
  std::memcpy(out.bytes.data(), raw->data(), size);
  return out;
}

result<digest> digest::from_raw(std::string_view raw) {
  if (raw.size() != size)
    return status::corruption("a stored digest has " + std::to_string(raw.size())
                              + " bytes instead of 32");
  digest out;
  std::memcpy(out.bytes.data(), raw.data(), size);
  return out;
}

namespace {

// One context per thread, and the algorithm fetched once: EVP_Digest makes
// both anew on every call, which costs 4x the hashing of a small blob.
struct sha256_context {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~sha256_context() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

} // namespace

digest sha256(std::string_view bytes) {
  digest out;
  unsigned int len = 0;
  thread_local sha256_context c;
  if (c.md != nullptr && c.ctx != nullptr && EVP_DigestInit_ex(c.ctx, c.md, nullptr) == 1
      && EVP_DigestUpdate(c.ctx, bytes.data(), bytes.size()) == 1
      && EVP_DigestFinal_ex(c.ctx, out.bytes.data(), &len) == 1)
    return out;
  // The one-call form, should the cached context ever fail.
  EVP_Digest(bytes.data(), bytes.size(), out.bytes.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::vector<digest> sha256_all(const std::vector<std::string_view>& blobs, unsigned max_threads) {
  std::vector<digest> out(blobs.size());
  // Each call costs about as much as hashing a few hundred bytes: many small
  // blobs are worth spreading over threads too.
  constexpr uint64_t per_call_cost = 512;
  uint64_t total = 0;
  for (auto b : blobs)
    total += b.size() + per_call_cost;
  unsigned threads = max_threads != 0 ? max_threads : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(std::min<uint64_t>({std::max(threads, 1u), blobs.size(),
                                                      total / (parallel_hash_threshold / 4) + 1}));
  auto hash_range = [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i)
      out[i] = sha256(blobs[i]);
  };
  if (total <= parallel_hash_threshold || threads <= 1) {
    hash_range(0, blobs.size());
    return out;
  }
  // Cut the batch into `threads` contiguous runs of about total/threads bytes.
  std::vector<size_t> cuts = {0};
  uint64_t seen = 0;
  for (size_t i = 0; i < blobs.size() && cuts.size() < threads; ++i) {
    seen += blobs[i].size() + per_call_cost;
    if (seen * threads >= total * cuts.size())
      cuts.push_back(i + 1);
  }
  cuts.push_back(blobs.size());
  std::vector<std::thread> pool;
  pool.reserve(cuts.size()); // So that only starting a thread can throw below.
  size_t run = 1;            // Run 0 is the calling thread's.
  for (; run + 1 < cuts.size(); ++run) {
    try {
      pool.emplace_back(hash_range, cuts[run], cuts[run + 1]);
    } catch (const std::exception&) {
      break; // No more threads (system_error, bad_alloc): this thread hashes the rest.
    }
  }
  hash_range(cuts[0], cuts[1]);
  hash_range(cuts[run], cuts.back());
  for (auto& t : pool)
    t.join();
  return out;
}

bool is_hex_prefix(std::string_view text) {
  if (text.empty() || text.size() > digest::size * 2)
    return false;
  for (char c : text)
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

} // namespace amber
