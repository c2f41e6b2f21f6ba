// What does serial.hpp cost per value?
//
// Times `encode` (a fresh string per call), `encode_into` (one reused
// buffer, cleared between calls) and `decode` on three shapes: a tiny struct
// (where the fixed cost of building an archive dominates), a 1 MiB
// vector<char> (where copying dominates), and a cache layer of 10,000
// component records (what a checkpoint of a large node encodes). Prints the
// median of `repeats` runs of each.
//
// Usage: bench_encode [repeats=5]

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/serial.hpp"

using namespace amber;

namespace {

struct tiny {
  uint32_t id = 17;
  uint64_t seq = 123456789;
  std::string name = "counter-17";

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& id& seq& name;
  }
};

cache_layer big_cache() {
  cache_layer out;
  for (uint32_t i = 0; i < 10'000; ++i) {
    component_record c;
    c.instance_id = i + 1;
    c.name = "account-" + std::to_string(i);
    c.type_name = "bank.account";
    c.package = {"bank", "1.0.0"};
    c.graph = "bank";
    c.state = sha256(c.name);
    c.state_size = 24;
    out.components.push_back(std::move(c));
  }
  return out;
}

// Median seconds of `repeats` runs of `run`.
template <class F>
double median_seconds(int repeats, F&& run) {
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

volatile size_t sink_; // Keeps the optimizer from dropping the work.

template <class T>
void measure(const char* label, const T& value, int iterations, int repeats) {
  const size_t size = encode(value).size();
  double fresh = median_seconds(repeats, [&] {
    for (int i = 0; i < iterations; ++i)
      sink_ = encode(value).size();
  });
  std::string buffer;
  double reused = median_seconds(repeats, [&] {
    for (int i = 0; i < iterations; ++i) {
      buffer.clear();
      encode_into(value, &buffer);
      sink_ = buffer.size();
    }
  });
  const std::string bytes = encode(value);
  double decoded = median_seconds(repeats, [&] {
    for (int i = 0; i < iterations; ++i) {
      T out;
      if (!decode(bytes, &out, "bench value").is_ok())
        std::abort();
      sink_ = sizeof(out);
    }
  });
  auto per_op_ns = [&](double s) { return s * 1e9 / iterations; };
  auto gb_per_s = [&](double s) { return static_cast<double>(size) * iterations / s / 1e9; };
  std::printf("%-28s %9zu B x %7d | encode %10.1f ns %6.2f GB/s | encode_into %10.1f ns "
              "%6.2f GB/s | decode %10.1f ns %6.2f GB/s\n",
              label, size, iterations, per_op_ns(fresh), gb_per_s(fresh), per_op_ns(reused),
              gb_per_s(reused), per_op_ns(decoded), gb_per_s(decoded));
}

} // namespace

int main(int argc, char** argv) {
  int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  measure("tiny struct", tiny{}, 1'000'000, repeats);
  measure("vector<char> 1 MiB", std::vector<char>(1 << 20, 'x'), 500, repeats);
  measure("cache layer, 10k records", big_cache(), 20, repeats);
  return 0;
}
