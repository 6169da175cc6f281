// Read sections for lock-free readers of memory that a writer may unlink and
// free (the rate limiter's tables and entries). Entering and leaving a section
// are two plain stores to the thread's own record; a writer that unlinked
// something calls synchronize(), which makes every running thread execute a
// full memory barrier (Linux membarrier, private expedited) and then waits for
// the sections that were open to close. This is the "memb" flavour of
// user-space RCU (Desnoyers et al., IEEE TPDS 2012): the readers' cost moves
// to the rare writer. Without membarrier, readers fence after entering.
#pragma once

#include <atomic>
#include <cstdint>

namespace llmward {

class ReadSections {
 public:
  struct alignas(64) Record {
    std::atomic<std::uint64_t> state{0};  // odd: inside a section; changes on every entry
    std::atomic<bool> in_use{false};
    Record* next = nullptr;
  };

  // Waits until every section open when it was called has closed. Must not
  // be called from inside a section.
  static void synchronize() noexcept;
  static bool uses_membarrier() noexcept;

  static Record& record() noexcept {
    Record* r = t_record;
    return r != nullptr ? *r : enroll();
  }
  static bool need_fence() noexcept { return s_need_fence.load(std::memory_order_relaxed); }

 private:
  static Record& enroll() noexcept;
  // inline and constant-initialized: no TLS wrapper call on each access.
  static inline thread_local Record* t_record __attribute__((tls_model("initial-exec"))) = nullptr;
  static std::atomic<bool> s_need_fence;
};

// RAII: one read section on the calling thread (not nested).
class ReadSection {
 public:
  ReadSection() noexcept : record_(ReadSections::record()) {
    const std::uint64_t state = record_.state.load(std::memory_order_relaxed);
    record_.state.store(state + 1, std::memory_order_relaxed);  // even -> odd
    if (ReadSections::need_fence()) {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    } else {
      std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier orders the CPU
    }
  }
  ~ReadSection() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    record_.state.store(record_.state.load(std::memory_order_relaxed) + 1,
                        std::memory_order_release);  // odd -> even
  }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

 private:
  ReadSections::Record& record_;
};

}  // namespace llmward
