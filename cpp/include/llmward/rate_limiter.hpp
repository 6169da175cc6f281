// GCRA rate limiting: the token bucket held as one "theoretical arrival time"
// (TAT) per key, a 64-bit atomic updated by compare-and-swap. Keys live in a
// sharded open-addressing table that is read without locks; only inserting a
// key takes its shard's mutex. Keys whose bucket is full again (TAT in the
// past: the same state as a key never seen) are evicted when their shard
// grows, and their memory is freed once no reader can still hold them, so a
// flood of distinct keys cannot grow memory without bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>

#include "llmward/mono_clock.hpp"

namespace llmward {

struct RateDecision {
  bool allowed = false;
  std::int64_t retry_after_ns = 0;  // 0 when allowed; kNever when cost > burst
  std::uint64_t remaining = 0;      // unit requests still allowed right after this decision
  std::int64_t reset_after_ns = 0;  // until the bucket is full again
};

class RateLimiter {
 public:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  static constexpr std::size_t kMaxKeyBytes = 1024;
  // Times outside this range are refused (std::invalid_argument): it keeps
  // every TAT computation clear of overflow.
  static constexpr std::int64_t kMaxAbsTimeNs = std::int64_t{1} << 62;

  // rate: tokens per second, in (0, 1e9]; burst: the bucket's capacity, in
  // [1, 2^32]; burst / rate must not exceed 2^61 ns (73 years).
  RateLimiter(double rate, std::uint64_t burst);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Decisions at the native monotonic clock's time, or at `now_ns` (any
  // monotonic time base, used consistently). Keys: 1..kMaxKeyBytes bytes.
  RateDecision acquire(std::string_view key, std::uint64_t cost);
  RateDecision acquire(std::string_view key, std::uint64_t cost, std::int64_t now_ns);
  RateDecision peek(std::string_view key, std::uint64_t cost) const;
  RateDecision peek(std::string_view key, std::uint64_t cost, std::int64_t now_ns) const;
  void reset(std::string_view key);

  std::int64_t now_ns() const noexcept { return clock_.now_ns(); }
  double rate() const noexcept { return rate_; }
  std::uint64_t burst() const noexcept { return burst_; }
  std::int64_t interval_ns() const noexcept { return interval_; }
  std::size_t size() const noexcept;          // keys tracked now
  std::size_t memory_bytes() const noexcept;  // tables and entries

  struct Shard;
  struct Entry;

 private:
  // const: what it changes is the shards' concurrent state, never the policy.
  [[gnu::always_inline]] inline RateDecision decide(std::string_view key, std::uint64_t cost,
                                                    std::int64_t now, bool commit) const;
  [[gnu::noinline]] RateDecision decide_unknown(Shard& shard, std::string_view key,
                                                std::uint64_t hash, std::uint64_t cost,
                                                std::int64_t charge, std::int64_t now,
                                                bool stores) const;
  // Inlined into decide(): the decision path is a few nanoseconds of work.
  [[gnu::always_inline]] inline bool admit(std::int64_t stored, std::int64_t charge,
                                           std::int64_t now, std::int64_t& next) const noexcept;
  [[gnu::always_inline]] inline void describe(bool allowed, std::int64_t stored,
                                              std::uint64_t cost, std::int64_t now,
                                              RateDecision& d) const noexcept;
  [[gnu::always_inline]] inline std::uint64_t remaining_at(std::int64_t tat,
                                                           std::int64_t now) const noexcept;
  [[gnu::always_inline]] inline Entry* find(const Shard& shard, std::string_view key,
                                            std::uint64_t hash) const noexcept;
  Entry* find_or_insert_locked(Shard& shard, std::string_view key, std::uint64_t hash,
                               std::int64_t now) const;
  static void rebuild_locked(Shard& shard, std::int64_t now, std::size_t extra);
  std::uint64_t hash(std::string_view key) const noexcept;
  [[gnu::always_inline]] static inline void check_key(std::string_view key);

  double rate_;
  std::uint64_t burst_;
  std::int64_t interval_;  // ns per token
  std::int64_t tau_;       // burst * interval
  double inverse_interval_;
  std::uint64_t seed_;
  MonoClock clock_;  // a copy: no guard or indirection per read
  std::unique_ptr<Shard[]> shards_;
};

// Time per decision in ns, measured in C++ with no Python in the loop:
// `threads` threads each deciding `decisions` times, on one shared key or on
// a key of their own, at the native clock.
double rate_limiter_microbench(unsigned threads, bool distinct_keys, std::uint64_t decisions);

struct RateStressResult {
  std::uint64_t admitted_frozen = 0;         // must equal the burst
  std::uint64_t admitted_after_advance = 0;  // must equal advance_tokens (up to the burst)
  std::size_t most_keys = 0;                 // the most keys tracked at once
};
// Exactness under contention, with evictions running under the readers (tests).
RateStressResult rate_limiter_stress(unsigned threads, std::uint64_t attempts,
                                     std::uint64_t burst, std::uint64_t advance_tokens,
                                     std::uint64_t flood_keys);

}  // namespace llmward
