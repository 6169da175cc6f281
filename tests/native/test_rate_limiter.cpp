// The GCRA rate limiter: exact decisions on an injected clock, refused
// arguments, and exactness with several threads on one key while a flood of
// other keys forces evictions.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <cstring>

#include "check.hpp"
#include "key_hash.hpp"
#include "llmward/rate_limiter.hpp"

using llmward::RateLimiter;

namespace {
constexpr std::int64_t kMs = 1000000;
constexpr std::int64_t kT0 = std::int64_t{1} << 40;  // any time base
}  // namespace

TEST_CASE(rate_limiter_gcra_decisions) {
  RateLimiter limiter(10.0, 5);  // a token per 100 ms, bucket of 5
  CHECK_EQ(limiter.interval_ns(), 100 * kMs);
  for (std::uint64_t i = 0; i < 5; ++i) {
    const auto d = limiter.acquire("alice", 1, kT0);
    CHECK(d.allowed);
    CHECK_EQ(d.remaining, 4 - i);
  }
  const auto refused = limiter.acquire("alice", 1, kT0);
  CHECK(!refused.allowed);
  CHECK_EQ(refused.retry_after_ns, 100 * kMs);
  CHECK_EQ(refused.reset_after_ns, 500 * kMs);
  CHECK(!limiter.acquire("alice", 1, kT0 + 100 * kMs - 1).allowed);
  CHECK(limiter.acquire("alice", 1, kT0 + 100 * kMs).allowed);
  // Keys are independent; peek decides without consuming.
  CHECK(limiter.peek("bob", 5, kT0).allowed);
  CHECK(limiter.acquire("bob", 5, kT0).allowed);
  CHECK(!limiter.peek("bob", 1, kT0).allowed);
  // A cost above the burst never passes.
  const auto never = limiter.acquire("carol", 6, kT0);
  CHECK(!never.allowed);
  CHECK_EQ(never.retry_after_ns, RateLimiter::kNever);
  // reset() forgets the key: a full bucket again.
  limiter.reset("bob");
  CHECK(limiter.acquire("bob", 5, kT0).allowed);
  CHECK(limiter.size() >= 2);
  CHECK(limiter.memory_bytes() > 0);
}

// Keys whose hashes match are told apart by same_key_bytes (word loads that
// overlap for short keys): every length, a difference at every position.
TEST_CASE(rate_limiter_key_compare_sees_every_byte) {
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string a(n, 'k');
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<char>('a' + (i * 7) % 26);
    CHECK(llmward::same_key_bytes(a.data(), std::string(a).data(), n));
    for (std::size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = static_cast<char>(b[i] ^ 0x80);
      CHECK(!llmward::same_key_bytes(a.data(), b.data(), n));
    }
  }
}

TEST_CASE(rate_limiter_refuses_bad_arguments) {
  CHECK_THROWS(RateLimiter(0.0, 1), std::invalid_argument, "rate must be");
  CHECK_THROWS(RateLimiter(2e9, 1), std::invalid_argument, "rate must be");
  CHECK_THROWS(RateLimiter(1.0, 0), std::invalid_argument, "burst must be");
  CHECK_THROWS(RateLimiter(1e-9, 1u << 30), std::invalid_argument, "too long");
  RateLimiter limiter(1.0, 1);
  CHECK_THROWS(limiter.acquire("", 1, kT0), std::invalid_argument, "empty");
  CHECK_THROWS(limiter.acquire(std::string(RateLimiter::kMaxKeyBytes + 1, 'k'), 1, kT0),
               std::invalid_argument, "over");
  CHECK_THROWS(limiter.acquire("k", 1, RateLimiter::kMaxAbsTimeNs + 1), std::invalid_argument,
               "time out of range");
  CHECK(limiter.acquire(std::string(RateLimiter::kMaxKeyBytes, 'k'), 1, kT0).allowed);
}

TEST_CASE(rate_limiter_exact_under_contention_with_evictions) {
  RateLimiter limiter(1.0, 1000);
  std::atomic<std::uint64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 600; ++i) {
        admitted += limiter.acquire("shared", 1, kT0).allowed;
        // Distinct keys grow the shards; full buckets get evicted under the readers.
        limiter.acquire("flood:" + std::to_string(t) + ":" + std::to_string(i), 1, kT0 + i * kMs);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK_EQ(admitted.load(), 1000u);
  const auto stress = llmward::rate_limiter_stress(4, 2000, 500, 100, 5000);
  CHECK_EQ(stress.admitted_frozen, 500u);
  CHECK_EQ(stress.admitted_after_advance, 100u);
  CHECK(stress.most_keys > 0);
}

TEST_CASE(rate_limiter_native_clock_and_microbench) {
  RateLimiter limiter(1e9, std::uint64_t{1} << 32);
  const std::int64_t before = limiter.now_ns();
  CHECK(limiter.acquire("k", 1).allowed);
  CHECK(limiter.now_ns() >= before);
  CHECK(llmward::rate_limiter_microbench(2, true, 2000) > 0.0);
}
