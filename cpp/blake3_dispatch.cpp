// Picks the BLAKE3 SIMD backend once, from what the CPU and the OS support.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "blake3_impl.hpp"

namespace llmward::blake3_impl {
namespace {

// XCR0: which register states the OS saves (AVX needs bits 1-2, AVX-512 also 5-7).
unsigned long long xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

struct Table {
  Backend all[4];
  std::size_t count = 0;
};

// A SIMD variant is used only if it gives the portable code's results on a
// known input: chunks (counters incrementing, start and end flags) and
// parents, more inputs than its width so the narrower paths run too. A
// variant that cannot be tested where it was built (no CPU here had it) or
// a miscompiled one then costs speed, never a wrong digest.
bool agrees_with_portable(HashMany candidate) {
  constexpr std::size_t kInputs = 31;  // 16 + 8 + 4 + 3: every narrower path too
  static std::uint8_t data[kInputs * kChunkLen];
  for (std::size_t i = 0; i < sizeof data; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const std::uint8_t* inputs[kInputs];
  for (std::size_t i = 0; i < kInputs; ++i) inputs[i] = data + i * kChunkLen;
  std::uint8_t expected[kInputs * 32], got[kInputs * 32];
  const std::uint64_t counter = (std::uint64_t{1} << 32) - 5;  // carries into the high word
  hash_many_portable(inputs, kInputs, kBlocksPerChunk, kIV, counter, true, kKeyedHash,
                     kChunkStart, kChunkEnd, expected);
  candidate(inputs, kInputs, kBlocksPerChunk, kIV, counter, true, kKeyedHash, kChunkStart,
            kChunkEnd, got);
  if (std::memcmp(expected, got, sizeof got) != 0) return false;
  hash_many_portable(inputs, kInputs, 1, kIV, 0, false, kParent, 0, 0, expected);
  candidate(inputs, kInputs, 1, kIV, 0, false, kParent, 0, 0, got);
  return std::memcmp(expected, got, sizeof got) == 0;
}

Table detect() {
  Table t;
  t.all[t.count++] = {"portable", hash_many_portable, 1};
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool osxsave = __builtin_cpu_supports("avx");  // implies OSXSAVE was checked by CPUID
  const unsigned long long xcr = osxsave ? xcr0() : 0;
  auto add = [&t](const Backend& b) {
    if (agrees_with_portable(b.hash_many)) t.all[t.count++] = b;
  };
  // Each wider variant falls back to the narrower ones for its remainder.
  if (__builtin_cpu_supports("sse4.1")) add({"sse41", hash_many_sse41, 4});
  if (__builtin_cpu_supports("avx2") && (xcr & 0x6) == 0x6 && t.all[t.count - 1].degree == 4) {
    add({"avx2", hash_many_avx2, 8});
  }
  if (__builtin_cpu_supports("avx512f") && (xcr & 0xE6) == 0xE6 &&
      t.all[t.count - 1].degree == 8) {
    add({"avx512", hash_many_avx512, 16});
  }
#endif
  return t;
}

const Table& table() {
  static const Table t = detect();
  return t;
}

const Backend* find(const char* name) {
  const Table& t = table();
  for (std::size_t i = 0; i < t.count; ++i) {
    if (std::strcmp(t.all[i].name, name) == 0) return &t.all[i];
  }
  return nullptr;
}

std::atomic<const Backend*>& chosen() {
  static std::atomic<const Backend*> backend{[] {
    const char* forced = std::getenv("LLMWARD_BLAKE3_SIMD");
    const Backend* b = forced != nullptr ? find(forced) : nullptr;
    const Table& t = table();
    return b != nullptr ? b : &t.all[t.count - 1];
  }()};
  return backend;
}

}  // namespace

const Backend& backend() { return *chosen().load(std::memory_order_acquire); }

const Backend* supported_backends(std::size_t& count) {
  count = table().count;
  return table().all;
}

bool select_backend(const char* name) {
  const Backend* b = find(name);
  if (b == nullptr) return false;
  chosen().store(b, std::memory_order_release);
  return true;
}

}  // namespace llmward::blake3_impl
