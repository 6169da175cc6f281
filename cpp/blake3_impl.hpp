// BLAKE3 internals shared by the portable and SIMD compression code (from the
// BLAKE3 specification: IV, message schedule, domain flags). Not installed:
// the public interface is llmward/blake3.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llmward::blake3_impl {

constexpr std::size_t kBlockLen = 64;
constexpr std::size_t kChunkLen = 1024;
constexpr std::size_t kBlocksPerChunk = kChunkLen / kBlockLen;

enum Flag : std::uint8_t {
  kChunkStart = 1,
  kChunkEnd = 2,
  kParent = 4,
  kRoot = 8,
  kKeyedHash = 16,
  kDeriveKeyContext = 32,
  kDeriveKeyMaterial = 64,
};

static constexpr std::uint32_t kIV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                         0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

// Message word order of each of the 7 rounds: round r reads the words the
// permutation [2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8] applied r times yields.
static constexpr std::uint8_t kSchedule[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

// The full 16-word compression output (the first 8 words are the chaining
// value; all 16 are extended output for a root node).
void compress(const std::uint32_t cv[8], const std::uint8_t block[kBlockLen],
              std::uint8_t block_len, std::uint64_t counter, std::uint8_t flags,
              std::uint32_t out[16]);

// Hashes `count` inputs of `blocks` whole blocks each, all with the same key
// and flags, writing count 32-byte chaining values to `out`. Input i uses
// counter + i when increment_counter (chunks), else counter (parents). The
// first block adds flags_start, the last flags_end.
using HashMany = void (*)(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                          const std::uint32_t key[8], std::uint64_t counter,
                          bool increment_counter, std::uint8_t flags, std::uint8_t flags_start,
                          std::uint8_t flags_end, std::uint8_t* out);

void hash_many_portable(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                        const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                        std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                        std::uint8_t* out);
void hash_many_sse41(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                     const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                     std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                     std::uint8_t* out);
void hash_many_avx2(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                    const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                    std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                    std::uint8_t* out);
void hash_many_avx512(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                      const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                      std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                      std::uint8_t* out);

// Inputs one SIMD call hashes at once: 1, 4, 8 or 16.
struct Backend {
  const char* name;
  HashMany hash_many;
  std::size_t degree;
};

// The fastest backend this CPU runs, or the one LLMWARD_BLAKE3_SIMD names
// (portable, sse41, avx2, avx512) when the CPU supports it.
const Backend& backend();
// Every backend this CPU can run (for the tests and the benchmark).
const Backend* supported_backends(std::size_t& count);
// Makes `name` the backend for this process; false if unknown or unsupported.
bool select_backend(const char* name);

}  // namespace llmward::blake3_impl
