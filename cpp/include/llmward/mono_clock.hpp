// A monotonic nanosecond clock cheap enough to read on every rate-limit
// decision: steady_clock costs 16 to 34 ns on the VMs measured (a vDSO
// call), the CPU's time-stamp counter 8 to 12 ns. The counter is used only
// where it is invariant (constant rate, running in every power state) and the
// kernel itself keeps time with it, so it is synchronized across cores;
// otherwise steady_clock. now_ns() is inline: a call and a guard would cost a quarter
// of the counter read again.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define LLMWARD_HAVE_TSC 1
#endif

namespace llmward {

class MonoClock {
 public:
  // Calibrated against steady_clock once per process (about 2 ms, on first
  // use); copies are cheap. LLMWARD_RATELIMIT_CLOCK=steady forces steady_clock.
  static const MonoClock& instance();

  std::int64_t now_ns() const noexcept {
#ifdef LLMWARD_HAVE_TSC
    if (tsc_) {
      // Signed: another core's counter may trail the calibrating core's by a few ticks.
      const auto ticks = static_cast<std::int64_t>(__rdtsc() - base_ticks_);
      const __int128 scaled = static_cast<__int128>(ticks) * static_cast<__int128>(ns_per_tick_q32_);
      return base_ns_ + static_cast<std::int64_t>(scaled >> 32);
    }
#endif
    return steady_ns();
  }
  const char* source() const noexcept { return tsc_ ? "tsc" : "steady_clock"; }

  static std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  MonoClock();
  bool tsc_ = false;
  std::uint64_t base_ticks_ = 0;
  std::int64_t base_ns_ = 0;
  std::uint64_t ns_per_tick_q32_ = 0;  // nanoseconds per tick, 32.32 fixed point
};

}  // namespace llmward
