#include "llmward/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "key_hash.hpp"
#include "llmward/mono_clock.hpp"
#include "llmward/read_sections.hpp"

namespace llmward {
namespace {

constexpr unsigned kShardBits = 6;
constexpr std::size_t kShards = std::size_t{1} << kShardBits;
constexpr std::size_t kMinSlots = 16;
// TAT values with a meaning of their own, below any valid time.
constexpr std::int64_t kDead = std::numeric_limits<std::int64_t>::min();  // evicted
constexpr std::int64_t kFull = kDead + 1;                                 // never used

// The slots follow the header in one allocation: a probe is one load fewer.
struct Table {
  static Table* create(std::size_t capacity) {
    void* memory = ::operator new(sizeof(Table) + capacity * sizeof(Slot));
    auto* t = new (memory) Table;
    t->mask = capacity - 1;
    for (std::size_t i = 0; i < capacity; ++i) new (&t->slots()[i]) Slot(nullptr);
    return t;
  }
  static void destroy(Table* t) noexcept {
    t->~Table();
    ::operator delete(t);
  }
  using Slot = std::atomic<RateLimiter::Entry*>;
  Slot* slots() noexcept { return reinterpret_cast<Slot*>(this + 1); }
  const Slot* slots() const noexcept { return reinterpret_cast<const Slot*>(this + 1); }
  std::size_t capacity() const noexcept { return mask + 1; }
  std::size_t mask = 0;
};
static_assert(sizeof(Table) % alignof(std::atomic<void*>) == 0, "slots must be aligned");

}  // namespace

struct RateLimiter::Entry {
  std::atomic<std::int64_t> tat{kFull};
  std::uint64_t hash = 0;
  std::uint32_t length = 0;

  const char* key() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  std::size_t bytes() const noexcept { return sizeof(Entry) + length; }
  bool matches(std::string_view k, std::uint64_t h) const noexcept {
    return hash == h && length == k.size() && same_key_bytes(key(), k.data(), k.size());
  }
  static Entry* create(std::string_view k, std::uint64_t h) {
    void* memory = ::operator new(sizeof(Entry) + k.size());
    auto* e = new (memory) Entry;
    e->hash = h;
    e->length = static_cast<std::uint32_t>(k.size());
    std::memcpy(reinterpret_cast<char*>(e + 1), k.data(), k.size());
    return e;
  }
  static void destroy(Entry* e) noexcept {
    e->~Entry();
    ::operator delete(e);
  }
};

// Readers hold no lock: they enter a read section (read_sections.hpp) and
// probe. Inserts, evictions and rebuilds take the shard's mutex; a rebuild
// frees what it unlinked only after ReadSections::synchronize().
struct alignas(64) RateLimiter::Shard {
  std::atomic<Table*> table{nullptr};
  std::mutex mutex;
  std::atomic<std::size_t> used{0};
  std::atomic<std::size_t> bytes{0};

  ~Shard() {
    Table* t = table.load(std::memory_order_relaxed);
    if (t == nullptr) return;
    for (std::size_t i = 0; i < t->capacity(); ++i) {
      if (Entry* e = t->slots()[i].load(std::memory_order_relaxed)) Entry::destroy(e);
    }
    Table::destroy(t);
  }
};

namespace {

void check_time(std::int64_t now) {
  if (now > RateLimiter::kMaxAbsTimeNs || now < -RateLimiter::kMaxAbsTimeNs) {
    throw std::invalid_argument("time out of range for the rate limiter");
  }
}

}  // namespace

RateLimiter::RateLimiter(double rate, std::uint64_t burst)
    : rate_(rate), burst_(burst), clock_(MonoClock::instance()) {
  if (!(rate > 0.0) || !std::isfinite(rate) || rate > 1e9) {
    throw std::invalid_argument("rate must be a finite number of tokens per second in (0, 1e9]");
  }
  if (burst < 1 || burst > (std::uint64_t{1} << 32)) {
    throw std::invalid_argument("burst must be between 1 and 2**32");
  }
  const double interval = std::nearbyint(1e9 / rate);
  if (interval * static_cast<double>(burst) > static_cast<double>(std::int64_t{1} << 61)) {
    throw std::invalid_argument("burst / rate is too long (over 2**61 ns, 73 years)");
  }
  interval_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(interval));
  tau_ = interval_ * static_cast<std::int64_t>(burst);
  inverse_interval_ = 1.0 / static_cast<double>(interval_);
  std::random_device entropy;
  seed_ = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy();
  shards_.reset(new Shard[kShards]);
}

RateLimiter::~RateLimiter() = default;

std::uint64_t RateLimiter::hash(std::string_view key) const noexcept {
  return seeded_hash(key.data(), key.size(), seed_);
}

void RateLimiter::check_key(std::string_view key) {
  if (key.empty()) throw std::invalid_argument("rate-limit key is empty");
  if (key.size() > kMaxKeyBytes) {
    throw std::invalid_argument("rate-limit key is over " + std::to_string(kMaxKeyBytes) +
                                " bytes");
  }
}

std::uint64_t RateLimiter::remaining_at(std::int64_t tat, std::int64_t now) const noexcept {
  const std::int64_t room = now + tau_ - tat;
  if (room <= 0) return 0;
  // room / interval_ without a 64-bit division (40 cycles on some cores):
  // the double quotient is off by at most one for room < 2^62.
  auto q = static_cast<std::int64_t>(static_cast<double>(room) * inverse_interval_);
  if (q * interval_ > room) --q;
  if ((q + 1) * interval_ <= room) ++q;
  return static_cast<std::uint64_t>(q);
}

// The decision itself: whether `cost` fits at `now`, and the TAT to store.
// Only this precedes the compare-and-swap. A locked instruction waits for
// every earlier store, so filling the result first would put its arithmetic
// (the remaining count's division) on the path of every decision.
bool RateLimiter::admit(std::int64_t stored, std::int64_t charge, std::int64_t now,
                        std::int64_t& next) const noexcept {
  next = std::max(stored, now) + charge;
  return now >= next - tau_;
}

// The result, described after the fact from the TAT the decision saw. It
// recomputes admit()'s new TAT rather than keeping it live across the
// compare-and-swap: passing it in was no faster (about 2 ns slower in
// alternating runs of the microbenchmark).
void RateLimiter::describe(bool allowed, std::int64_t stored, std::uint64_t cost,
                           std::int64_t now, RateDecision& d) const noexcept {
  const std::int64_t tat = std::max(stored, now);
  d.allowed = allowed;
  if (allowed) {
    const std::int64_t next = tat + static_cast<std::int64_t>(cost) * interval_;
    d.retry_after_ns = 0;
    d.remaining = remaining_at(next, now);
    d.reset_after_ns = next - now;
    return;
  }
  d.retry_after_ns =
      cost > burst_ ? kNever : tat + static_cast<std::int64_t>(cost) * interval_ - tau_ - now;
  d.remaining = remaining_at(tat, now);
  d.reset_after_ns = tat - now;
}

RateLimiter::Entry* RateLimiter::find(const Shard& shard, std::string_view key,
                                      std::uint64_t h) const noexcept {
  const Table* t = shard.table.load(std::memory_order_seq_cst);
  if (t == nullptr) return nullptr;
  for (std::size_t i = h & t->mask;; i = (i + 1) & t->mask) {
    Entry* e = t->slots()[i].load(std::memory_order_acquire);
    if (e == nullptr) return nullptr;
    if (e->matches(key, h)) return e;
  }
}

// Keeps the entries whose bucket is not full, in a table sized for them and
// `extra` more at a quarter full; frees the others once no reader holds them.
void RateLimiter::rebuild_locked(Shard& shard, std::int64_t now, std::size_t extra) {
  Table* old = shard.table.load(std::memory_order_relaxed);
  std::vector<Entry*> keep;
  std::vector<Entry*> evicted;
  if (old != nullptr) {
    keep.reserve(shard.used.load(std::memory_order_relaxed));
    for (std::size_t i = 0; i < old->capacity(); ++i) {
      Entry* e = old->slots()[i].load(std::memory_order_relaxed);
      if (e == nullptr) continue;
      std::int64_t tat = e->tat.load(std::memory_order_acquire);
      bool evict = false;
      // A decision that lands first moves the TAT past `now` and keeps the entry.
      while (tat <= now && tat != kDead) {
        if (e->tat.compare_exchange_weak(tat, kDead, std::memory_order_acq_rel)) {
          evict = true;
          break;
        }
      }
      (evict ? evicted : keep).push_back(e);
    }
  }
  std::size_t capacity = kMinSlots;
  while (capacity < (keep.size() + extra) * 4) capacity <<= 1;
  Table* fresh = Table::create(capacity);
  std::size_t bytes = sizeof(Table) + capacity * sizeof(Table::Slot);
  for (Entry* e : keep) {
    std::size_t i = e->hash & fresh->mask;
    while (fresh->slots()[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & fresh->mask;
    fresh->slots()[i].store(e, std::memory_order_relaxed);
    bytes += e->bytes();
  }
  shard.table.store(fresh, std::memory_order_seq_cst);
  shard.used.store(keep.size(), std::memory_order_relaxed);
  shard.bytes.store(bytes, std::memory_order_relaxed);
  if (old == nullptr) return;
  ReadSections::synchronize();
  Table::destroy(old);
  for (Entry* e : evicted) Entry::destroy(e);
}

RateLimiter::Entry* RateLimiter::find_or_insert_locked(Shard& shard, std::string_view key,
                                                       std::uint64_t h,
                                                       std::int64_t now) const {
  if (Entry* e = find(shard, key, h)) return e;  // inserted meanwhile by another thread
  Table* t = shard.table.load(std::memory_order_relaxed);
  const std::size_t used = shard.used.load(std::memory_order_relaxed);
  if (t == nullptr || (used + 1) * 2 > t->capacity()) {
    rebuild_locked(shard, now, 1);
    t = shard.table.load(std::memory_order_relaxed);
  }
  Entry* e = Entry::create(key, h);
  std::size_t i = h & t->mask;
  while (t->slots()[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & t->mask;
  t->slots()[i].store(e, std::memory_order_release);
  shard.used.fetch_add(1, std::memory_order_relaxed);
  shard.bytes.fetch_add(e->bytes(), std::memory_order_relaxed);
  return e;
}

// The hot path, inlined into acquire() and peek(): a known key, decided
// without a lock. Anything else goes to decide_unknown(), out of line.
RateDecision RateLimiter::decide(std::string_view key, std::uint64_t cost, std::int64_t now,
                                 bool commit) const {
  check_key(key);
  const std::uint64_t h = hash(key);
  Shard& shard = shards_[h >> (64 - kShardBits)];
  // Over the burst nothing ever fits: a charge no TAT can pass.
  const std::int64_t charge =
      cost <= burst_ ? static_cast<std::int64_t>(cost) * interval_ : tau_ + 1;
  // Nothing to store: a peek, or a zero cost.
  const bool stores = commit && cost > 0;
  {
    const ReadSection section;
    if (Entry* e = find(shard, key, h)) {
      std::int64_t tat = e->tat.load(std::memory_order_acquire);
      while (tat != kDead) {
        std::int64_t next = 0;
        const bool allowed = admit(tat, charge, now, next);
        if (!allowed || !stores ||
            e->tat.compare_exchange_weak(tat, next, std::memory_order_acq_rel)) {
          RateDecision result;
          describe(allowed, tat, cost, now, result);
          return result;
        }
      }
      // Evicted under us: its bucket was full, as for an unknown key.
    }
  }
  return decide_unknown(shard, key, h, cost, charge, now, stores);
}

// An unknown key is a full bucket. Only a decision that consumes something
// stores it, under the shard's mutex (which also keeps the entry alive).
RateDecision RateLimiter::decide_unknown(Shard& shard, std::string_view key, std::uint64_t h,
                                         std::uint64_t cost, std::int64_t charge,
                                         std::int64_t now, bool stores) const {
  RateDecision result;
  std::int64_t next = 0;
  bool allowed = admit(kFull, charge, now, next);
  if (!allowed || !stores) {
    describe(allowed, kFull, cost, now, result);
    return result;
  }
  std::lock_guard<std::mutex> lock(shard.mutex);
  Entry* e = find_or_insert_locked(shard, key, h, now);
  std::int64_t tat = e->tat.load(std::memory_order_acquire);
  for (;;) {
    allowed = admit(tat, charge, now, next);
    if (!allowed || e->tat.compare_exchange_weak(tat, next, std::memory_order_acq_rel)) {
      describe(allowed, tat, cost, now, result);
      return result;
    }
  }
}

RateDecision RateLimiter::acquire(std::string_view key, std::uint64_t cost) {
  return decide(key, cost, now_ns(), true);
}
RateDecision RateLimiter::acquire(std::string_view key, std::uint64_t cost, std::int64_t now) {
  check_time(now);
  return decide(key, cost, now, true);
}
RateDecision RateLimiter::peek(std::string_view key, std::uint64_t cost) const {
  return decide(key, cost, now_ns(), false);
}
RateDecision RateLimiter::peek(std::string_view key, std::uint64_t cost, std::int64_t now) const {
  check_time(now);
  return decide(key, cost, now, false);
}

void RateLimiter::reset(std::string_view key) {
  check_key(key);
  const std::uint64_t h = hash(key);
  Shard& shard = shards_[h >> (64 - kShardBits)];
  const ReadSection section;
  if (Entry* e = find(shard, key, h)) {
    std::int64_t tat = e->tat.load(std::memory_order_acquire);
    // Never over an eviction's mark: a dead entry must stay dead.
    while (tat != kDead && !e->tat.compare_exchange_weak(tat, kFull, std::memory_order_acq_rel)) {
    }
  }
}

std::size_t RateLimiter::size() const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kShards; ++i) n += shards_[i].used.load(std::memory_order_relaxed);
  return n;
}

std::size_t RateLimiter::memory_bytes() const noexcept {
  std::size_t n = sizeof(RateLimiter) + kShards * sizeof(Shard);
  for (std::size_t i = 0; i < kShards; ++i) n += shards_[i].bytes.load(std::memory_order_relaxed);
  return n;
}

}  // namespace llmward
