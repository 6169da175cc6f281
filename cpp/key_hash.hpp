// A seeded 64-bit hash of short strings (rate-limit keys: key ids, user ids,
// addresses): 64x64->128-bit multiplies folded by xor, the construction of the
// wyhash family. The seed is random per limiter, so which keys collide cannot
// be predicted from outside. Not a MAC: it spreads keys, it proves nothing.
// same_key_bytes() then tells keys whose hashes matched apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace llmward {

// Unaligned loads of a key's bytes, in host byte order.
inline std::uint64_t load_u64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint32_t load_u32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  const auto r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t seeded_hash(const char* p, std::size_t n, std::uint64_t seed) noexcept {
  constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                          k2 = 0x8ebc6af09c88c6e3ull;
  std::uint64_t a = 0, b = 0;
  std::uint64_t s = seed ^ k0;
  if (n <= 16) {
    if (n >= 8) {
      a = load_u64(p);
      b = load_u64(p + n - 8);
    } else if (n >= 4) {
      a = load_u32(p);
      b = load_u32(p + n - 4);
    } else if (n > 0) {
      a = (static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
          (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n >> 1])) << 8) |
          static_cast<unsigned char>(p[n - 1]);
    }
  } else {
    std::size_t i = 0;
    for (; i + 16 < n; i += 16) s = fold_multiply(load_u64(p + i) ^ k1, load_u64(p + i + 8) ^ s);
    a = load_u64(p + n - 16);
    b = load_u64(p + n - 8);
  }
  return fold_multiply(k1 ^ n, fold_multiply(a ^ k1, b ^ s) ^ k2);
}

// Keys are short (ids, addresses) and their hashes already matched: an inline
// compare beats a call to memcmp (18% of a decision's time). Short tails are
// compared as two overlapping words rather than byte by byte.
inline bool same_key_bytes(const char* a, const char* b, std::size_t n) noexcept {
  if (n >= 8) {
    std::uint64_t diff = load_u64(a + n - 8) ^ load_u64(b + n - 8);
    for (std::size_t i = 0; i + 8 < n; i += 8) diff |= load_u64(a + i) ^ load_u64(b + i);
    return diff == 0;
  }
  if (n >= 4) {
    return ((load_u32(a) ^ load_u32(b)) | (load_u32(a + n - 4) ^ load_u32(b + n - 4))) == 0;
  }
  std::uint32_t diff = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

}  // namespace llmward
