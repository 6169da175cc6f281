// A seeded 64-bit hash of short strings (rate-limit keys: key ids, user ids,
// addresses): 64x64->128-bit multiplies folded by xor, the construction of the
// wyhash family. The seed is random per limiter, so which keys collide cannot
// be predicted from outside. Not a MAC: it spreads keys, it proves nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace llmward {

inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  const auto r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t seeded_hash(const char* p, std::size_t n, std::uint64_t seed) noexcept {
  constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                          k2 = 0x8ebc6af09c88c6e3ull;
  auto load64 = [](const char* q) {
    std::uint64_t v;
    std::memcpy(&v, q, 8);
    return v;
  };
  auto load32 = [](const char* q) {
    std::uint32_t v;
    std::memcpy(&v, q, 4);
    return static_cast<std::uint64_t>(v);
  };
  std::uint64_t a = 0, b = 0;
  std::uint64_t s = seed ^ k0;
  if (n <= 16) {
    if (n >= 8) {
      a = load64(p);
      b = load64(p + n - 8);
    } else if (n >= 4) {
      a = load32(p);
      b = load32(p + n - 4);
    } else if (n > 0) {
      a = (static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
          (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n >> 1])) << 8) |
          static_cast<unsigned char>(p[n - 1]);
    }
  } else {
    std::size_t i = 0;
    for (; i + 16 < n; i += 16) s = fold_multiply(load64(p + i) ^ k1, load64(p + i + 8) ^ s);
    a = load64(p + n - 16);
    b = load64(p + n - 8);
  }
  return fold_multiply(k1 ^ n, fold_multiply(a ^ k1, b ^ s) ^ k2);
}

}  // namespace llmward
