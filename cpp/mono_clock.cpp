#include "llmward/mono_clock.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#ifdef LLMWARD_HAVE_TSC
#include <cpuid.h>
#endif

namespace llmward {
namespace {

#ifdef LLMWARD_HAVE_TSC
bool invariant_tsc() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u) return false;
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  return (d >> 8) & 1u;
}

// The kernel keeps time with the counter only after checking that every
// core's counter agrees; its choice is the test of synchronization we trust.
bool kernel_uses_tsc() {
  std::ifstream in("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  return static_cast<bool>(in >> source) && source == "tsc";
}

// A (ticks, ns) pair read as close together as possible: the steady_clock
// read between two counter reads, with the pair of smallest gap kept.
void paired_read(std::uint64_t& ticks, std::int64_t& ns) {
  std::uint64_t best_gap = ~0ull;
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t before = __rdtsc();
    const std::int64_t t = MonoClock::steady_ns();
    const std::uint64_t after = __rdtsc();
    if (after - before < best_gap) {
      best_gap = after - before;
      ticks = before + (after - before) / 2;
      ns = t;
    }
  }
}
#endif

}  // namespace

const MonoClock& MonoClock::instance() {
  static const MonoClock clock;
  return clock;
}

MonoClock::MonoClock() {
#ifdef LLMWARD_HAVE_TSC
  const char* forced = std::getenv("LLMWARD_RATELIMIT_CLOCK");
  if (forced != nullptr && std::strcmp(forced, "steady") == 0) return;
  if (!invariant_tsc() || !kernel_uses_tsc()) return;
  std::uint64_t t0 = 0, t1 = 0;
  std::int64_t n0 = 0, n1 = 0;
  paired_read(t0, n0);
  // 2 ms against read jitter of tens of ns: a rate error near 1e-5.
  while (MonoClock::steady_ns() - n0 < 2'000'000) {
  }
  paired_read(t1, n1);
  if (t1 <= t0 || n1 <= n0) return;
  const long double per_tick = static_cast<long double>(n1 - n0) / static_cast<long double>(t1 - t0);
  if (!(per_tick > 0.01L && per_tick < 100.0L)) return;  // not a plausible counter
  ns_per_tick_q32_ = static_cast<std::uint64_t>(per_tick * 4294967296.0L);
  base_ticks_ = t1;
  base_ns_ = n1;
  tsc_ = true;
#endif
}

}  // namespace llmward
