// Private: per-byte class bitmasks of a 64-byte block (bit i = byte i), with
// SSE2 on x86-64 and a table-driven fallback elsewhere. The quick scans use
// them to prove, in one pass, that a text has nothing to fold or decode.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "char_class.hpp"

namespace llmward::views::ascii {

struct BlockMasks {
  std::uint64_t high;    // bytes >= 0x80
  std::uint64_t ws;      // \t \v \f \r
  std::uint64_t letter;  // A-Z a-z
  std::uint64_t x;       // 0-9 $ !  (token characters that are not letters)
  std::uint64_t bang;    // !
  std::uint64_t base64;  // A-Z a-z 0-9 + / - _
  std::uint64_t escape;  // % and backslash
  std::uint64_t cont;    // UTF-8 continuation bytes (0x80-0xBF)
};

#if defined(__SSE2__)
namespace detail {
// Bytes in [lo, hi]: shift the range to the bottom of the signed order.
inline __m128i in_range(__m128i v, char lo, char hi) {
  const __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
  return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(0x80 + (hi - lo) + 1)));
}
inline __m128i eq(__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }
inline std::uint64_t bits(__m128i m, int lane) {
  return static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(m))) << (16 * lane);
}
}  // namespace detail

inline BlockMasks block_masks(const unsigned char* p) noexcept {
  using namespace detail;
  BlockMasks m{};
  for (int lane = 0; lane < 4; ++lane) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * lane));
    const __m128i letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
    const __m128i digit = in_range(v, '0', '9');
    const __m128i ws = _mm_andnot_si128(eq(v, '\n'), in_range(v, '\t', '\r'));
    const __m128i x = _mm_or_si128(digit, _mm_or_si128(eq(v, '$'), eq(v, '!')));
    const __m128i b64 = _mm_or_si128(
        _mm_or_si128(letter, digit),
        _mm_or_si128(_mm_or_si128(eq(v, '+'), eq(v, '/')), _mm_or_si128(eq(v, '-'), eq(v, '_'))));
    const __m128i escape = _mm_or_si128(eq(v, '%'), eq(v, '\\'));
    const __m128i cont = _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(0xC0)));
    m.high |= bits(v, lane);
    m.ws |= bits(ws, lane);
    m.letter |= bits(letter, lane);
    m.x |= bits(x, lane);
    m.bang |= bits(eq(v, '!'), lane);
    m.base64 |= bits(b64, lane);
    m.escape |= bits(escape, lane);
    m.cont |= bits(_mm_and_si128(v, cont), lane);
  }
  return m;
}
#else
inline BlockMasks block_masks(const unsigned char* p) noexcept {
  BlockMasks m{};
  for (int i = 0; i < 64; ++i) {
    const unsigned char c = p[i];
    const std::uint64_t bit = std::uint64_t{1} << i;
    const std::uint8_t k = cls(c);
    if (c >= 0x80) m.high |= bit;
    if (k & kWsFold) m.ws |= bit;
    if (k & kLetter) m.letter |= bit;
    if (k & (kDigit | kLeetSym)) m.x |= bit;
    if (c == '!') m.bang |= bit;
    if (k & kBase64) m.base64 |= bit;
    if (c == '%' || c == '\\') m.escape |= bit;
    if ((c & 0xC0) == 0x80) m.cont |= bit;
  }
  return m;
}
#endif

// Bit i set when byte i of the 64 bytes at p has its high bit set.
inline std::uint64_t high_bits(const unsigned char* p) noexcept {
#if defined(__SSE2__)
  std::uint64_t m = 0;
  for (int lane = 0; lane < 4; ++lane) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * lane));
    m |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(v))) << (16 * lane);
  }
  return m;
#else
  std::uint64_t m = 0;
  for (int i = 0; i < 64; ++i) m |= static_cast<std::uint64_t>(p[i] >> 7) << i;
  return m;
#endif
}

// Follows runs of base64 characters across blocks: true once a block shows
// something decode() would look at (a '%' or '\\', or a run of `min_run`
// base64 characters).
class EncodedSigns {
 public:
  explicit EncodedSigns(std::size_t min_run) : min_run_(min_run) {}

  bool found(const BlockMasks& m) noexcept {
    const std::uint64_t b = m.base64;
    const std::size_t leading = ~b == 0 ? 64 : static_cast<std::size_t>(__builtin_ctzll(~b));
    std::uint64_t run = b;  // bit i: bytes i..i+15 all base64 (min_run is 16)
    run &= run >> 1;
    run &= run >> 2;
    run &= run >> 4;
    run &= run >> 8;
    if (m.escape != 0 || carry_ + leading >= min_run_ || run != 0) return true;
    carry_ = ~b == 0 ? carry_ + 64 : static_cast<std::size_t>(__builtin_clzll(~b));
    return false;
  }

 private:
  std::size_t min_run_;
  std::size_t carry_ = 0;  // base64 characters ending the previous block
};

// Masks of `blocks` consecutive 64-byte blocks at p, with AVX2 when the CPU
// has it (chosen once per process), else as block_masks().
void block_masks_batch(const unsigned char* p, std::size_t blocks, BlockMasks* out) noexcept;

// Masks of the 64-byte blocks [first, first + count) of a text; the last
// partial block is padded with NUL bytes, which belong to no class, and
// blocks past the end are all zero.
inline void text_block_masks(const unsigned char* data, std::size_t size, std::size_t first,
                             std::size_t count, BlockMasks* out) noexcept {
  const std::size_t full = size / 64;
  std::size_t b = first;
  if (b < full) {
    const std::size_t n = full - b < count ? full - b : count;
    block_masks_batch(data + 64 * b, n, out);
    b += n;
  }
  for (; b < first + count; ++b) {
    if (b * 64 < size) {
      unsigned char tail[64] = {};
      std::memcpy(tail, data + 64 * b, size - 64 * b);
      out[b - first] = block_masks(tail);
    } else {
      out[b - first] = BlockMasks{};
    }
  }
}

// Calls f(offset, masks, next_masks) for each 64-byte block of [data, data
// + size), `next_masks` being those of the following block (all zero after
// the last). Stops early when f returns false.
template <typename F>
inline void for_each_block(const unsigned char* data, std::size_t size, F&& f) {
  constexpr std::size_t kChunk = 16;
  BlockMasks masks[kChunk + 1];
  const std::size_t blocks = (size + 63) / 64;
  for (std::size_t first = 0; first < blocks; first += kChunk) {
    const std::size_t count = blocks - first < kChunk ? blocks - first : kChunk;
    text_block_masks(data, size, first, count + 1, masks);  // one block of look-ahead
    for (std::size_t i = 0; i < count; ++i) {
      if (!f(64 * (first + i), static_cast<const BlockMasks&>(masks[i]),
             static_cast<const BlockMasks&>(masks[i + 1]))) {
        return;
      }
    }
  }
}

}  // namespace llmward::views::ascii
