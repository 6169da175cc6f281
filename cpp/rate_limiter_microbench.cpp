#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "llmward/rate_limiter.hpp"

namespace llmward {

// Every decision is admitted (a rate of 1e9 per second, a burst of 2^32), so
// each one runs the whole path: clock, hash, lookup and compare-and-swap.
double rate_limiter_microbench(unsigned threads, bool distinct_keys, std::uint64_t decisions) {
  if (threads == 0 || decisions == 0) return 0.0;
  RateLimiter limiter(1e9, std::uint64_t{1} << 32);
  std::atomic<unsigned> ready{0};
  std::atomic<std::uint64_t> admitted{0};
  std::vector<double> seconds(threads, 0.0);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const std::string key = distinct_keys ? "user:" + std::to_string(t) : "user:shared";
      limiter.acquire(key, 1);  // the key exists before timing starts
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      std::uint64_t ok = 0;
      const auto start = std::chrono::steady_clock::now();
      for (std::uint64_t i = 0; i < decisions; ++i) ok += limiter.acquire(key, 1).allowed;
      seconds[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      admitted.fetch_add(ok);
    });
  }
  for (auto& th : pool) th.join();
  if (admitted.load() != std::uint64_t{threads} * decisions) return -1.0;  // cannot happen
  double total = 0.0;
  for (double s : seconds) total += s;
  return total / threads / static_cast<double>(decisions) * 1e9;  // ns per decision per thread
}

}  // namespace llmward

namespace llmward {

// Exactness under contention (for the tests): `threads` threads hammer one
// key at a frozen time, while inserting and resetting keys of their own so
// that shards grow, evict and free under them; then the clock moves on by
// `advance_tokens` intervals and they hammer again.
RateStressResult rate_limiter_stress(unsigned threads, std::uint64_t attempts,
                                     std::uint64_t burst, std::uint64_t advance_tokens,
                                     std::uint64_t flood_keys) {
  RateLimiter limiter(1000.0, burst);
  const std::int64_t start = std::int64_t{1} << 40;
  RateStressResult result;
  for (int phase = 0; phase < 2; ++phase) {
    const std::int64_t now =
        start + (phase == 0 ? 0 : static_cast<std::int64_t>(advance_tokens) * limiter.interval_ns());
    std::atomic<unsigned> ready{0};
    std::atomic<std::uint64_t> admitted{0};
    std::atomic<std::size_t> most_keys{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < threads) {
        }
        std::uint64_t ok = 0;
        for (std::uint64_t i = 0; i < attempts; ++i) {
          ok += limiter.acquire("hot", 1, now).allowed;
          if (i < flood_keys) {
            const std::string key = "flood:" + std::to_string(phase) + ":" + std::to_string(t) +
                                    ":" + std::to_string(i);
            limiter.acquire(key, 1, now);
            limiter.reset(key);  // full again: the next rebuild of its shard evicts it
            std::size_t seen = limiter.size();
            std::size_t most = most_keys.load();
            while (seen > most && !most_keys.compare_exchange_weak(most, seen)) {
            }
          }
        }
        admitted.fetch_add(ok);
      });
    }
    for (auto& th : pool) th.join();
    (phase == 0 ? result.admitted_frozen : result.admitted_after_advance) = admitted.load();
    result.most_keys = std::max(result.most_keys, most_keys.load());
  }
  return result;
}

}  // namespace llmward
