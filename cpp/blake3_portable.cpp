// BLAKE3 compression in plain C++: the reference every SIMD path must equal,
// and the path for single blocks (chunk tails, parents, root output).
#include <cstring>

#include "blake3_impl.hpp"

namespace llmward::blake3_impl {
namespace {

inline std::uint32_t rotr(std::uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

inline std::uint32_t load32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}

inline void store32(std::uint8_t* p, std::uint32_t w) {
  p[0] = static_cast<std::uint8_t>(w);
  p[1] = static_cast<std::uint8_t>(w >> 8);
  p[2] = static_cast<std::uint8_t>(w >> 16);
  p[3] = static_cast<std::uint8_t>(w >> 24);
}

inline void g(std::uint32_t* v, int a, int b, int c, int d, std::uint32_t x, std::uint32_t y) {
  v[a] = v[a] + v[b] + x;
  v[d] = rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + y;
  v[d] = rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 7);
}

}  // namespace

void compress(const std::uint32_t cv[8], const std::uint8_t block[kBlockLen],
              std::uint8_t block_len, std::uint64_t counter, std::uint8_t flags,
              std::uint32_t out[16]) {
  std::uint32_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = load32(block + 4 * i);
  std::uint32_t v[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                         kIV[0], kIV[1], kIV[2], kIV[3],
                         static_cast<std::uint32_t>(counter),
                         static_cast<std::uint32_t>(counter >> 32), block_len, flags};
#pragma GCC unroll 7
  for (const auto& s : kSchedule) {
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; ++i) {
    out[i] = v[i] ^ v[i + 8];
    out[i + 8] = v[i + 8] ^ cv[i];
  }
}

void hash_many_portable(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                        const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                        std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                        std::uint8_t* out) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t cv[8];
    std::memcpy(cv, key, sizeof cv);
    std::uint32_t full[16];
    for (std::size_t b = 0; b < blocks; ++b) {
      std::uint8_t block_flags = flags;
      if (b == 0) block_flags |= flags_start;
      if (b + 1 == blocks) block_flags |= flags_end;
      compress(cv, inputs[i] + b * kBlockLen, kBlockLen, counter + (increment_counter ? i : 0),
               block_flags, full);
      std::memcpy(cv, full, sizeof cv);
    }
    for (int w = 0; w < 8; ++w) store32(out + 32 * i + 4 * w, cv[w]);
  }
}

}  // namespace llmward::blake3_impl
