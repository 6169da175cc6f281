#include "llmward/read_sections.hpp"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <thread>
#include <vector>

namespace llmward {
namespace {

std::atomic<ReadSections::Record*> g_records{nullptr};  // a list that only grows
std::mutex g_synchronize;

long membarrier(int command) { return ::syscall(SYS_membarrier, command, 0, 0); }

// Registers once per process; false where the kernel (or a sandbox) lacks it.
bool start_membarrier() {
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

const bool g_membarrier = start_membarrier();

// In a forked child only the forking thread exists: sections the parent's
// other threads had open will never close.
void close_orphaned_sections() {
  ReadSections::Record& mine = ReadSections::record();
  for (auto* r = g_records.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    if (r != &mine) r->state.store(r->state.load(std::memory_order_relaxed) & ~1ull);
  }
}

const int g_atfork = ::pthread_atfork(nullptr, nullptr, close_orphaned_sections);

// Gives a thread's record back when the thread ends.
struct Release {
  ReadSections::Record* record = nullptr;
  ~Release() {
    if (record != nullptr) record->in_use.store(false, std::memory_order_release);
  }
};
thread_local Release t_release;

}  // namespace

std::atomic<bool> ReadSections::s_need_fence{!g_membarrier};

bool ReadSections::uses_membarrier() noexcept { return g_membarrier; }

ReadSections::Record& ReadSections::enroll() noexcept {
  (void)g_atfork;
  Record* found = nullptr;
  for (auto* r = g_records.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    bool expected = false;
    if (r->in_use.compare_exchange_strong(expected, true)) {
      found = r;
      break;
    }
  }
  if (found == nullptr) {
    found = new Record;  // never freed: records are reused by later threads
    found->in_use.store(true, std::memory_order_relaxed);
    Record* head = g_records.load(std::memory_order_relaxed);
    do {
      found->next = head;
    } while (!g_records.compare_exchange_weak(head, found, std::memory_order_release));
  }
  t_record = found;
  t_release.record = found;
  return *found;
}

void ReadSections::synchronize() noexcept {
  std::lock_guard<std::mutex> lock(g_synchronize);
  // Every thread passes a full barrier: its open sections become visible
  // here, and sections it opens later see what was unlinked before.
  if (g_membarrier) {
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  std::vector<std::pair<Record*, std::uint64_t>> open;
  for (auto* r = g_records.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    const std::uint64_t state = r->state.load(std::memory_order_acquire);
    if (state & 1u) open.emplace_back(r, state);
  }
  // A section that closed, or closed and reopened after the barrier, is done
  // with the old memory.
  for (const auto& [record, state] : open) {
    for (int spins = 0; record->state.load(std::memory_order_acquire) == state; ++spins) {
      if (spins > 64) std::this_thread::yield();
    }
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace llmward
