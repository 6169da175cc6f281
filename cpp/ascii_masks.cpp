#include "ascii_masks.hpp"

#include <array>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LLMWARD_HAVE_AVX2_PATH 1
#endif

namespace llmward::views::ascii {
namespace {

#if defined(LLMWARD_HAVE_AVX2_PATH)
__attribute__((target("avx2"))) inline std::uint64_t bits256(__m256i m, int half) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(m)))
         << (32 * half);
}

// Bit i set when byte i of the 32 has one of the class `bits`; in the half
// of a 64-bit mask that `half` selects.
__attribute__((target("avx2"))) inline std::uint64_t any_of(__m256i classes, int bits, int half) {
  const __m256i none = _mm256_cmpeq_epi8(
      _mm256_and_si256(classes, _mm256_set1_epi8(static_cast<char>(bits))), _mm256_setzero_si256());
  return static_cast<std::uint64_t>(~static_cast<std::uint32_t>(_mm256_movemask_epi8(none)))
         << (32 * half);
}

// Byte classes from two 16-entry lookups, one by the low nibble and one by
// the high nibble, ANDed: each class bit is a set of high nibbles times a
// set of low nibbles.
enum : std::uint8_t {
  kUpperHalf = 1,   // 0x41-0x4F, 0x61-0x6F: letters A-O a-o
  kLowerHalf = 2,   // 0x50-0x5A, 0x70-0x7A: letters P-Z p-z
  kDigitBit = 4,    // 0-9
  kLeetBit = 8,     // $ !
  kWsBit = 16,      // \t \v \f \r
  kPunctB64 = 32,   // + - /
  kUnderscore = 64, // _
  kPercent = 128,   // %
};

// The two tables, each repeated for both 128-bit lanes (vpshufb looks up
// within a lane).
constexpr std::array<std::uint8_t, 32> make_by_low() {
  std::array<std::uint8_t, 32> t{};
  for (int lo = 0; lo < 16; ++lo) {
    std::uint8_t bits = 0;
    if (lo >= 1) bits |= kUpperHalf;
    if (lo <= 0xA) bits |= kLowerHalf;
    if (lo <= 9) bits |= kDigitBit;
    if (lo == 1 || lo == 4) bits |= kLeetBit;
    if (lo == 9 || lo == 0xB || lo == 0xC || lo == 0xD) bits |= kWsBit;
    if (lo == 0xB || lo == 0xD || lo == 0xF) bits |= kPunctB64;
    if (lo == 0xF) bits |= kUnderscore;
    if (lo == 5) bits |= kPercent;
    t[lo] = t[lo + 16] = bits;
  }
  return t;
}
constexpr std::array<std::uint8_t, 32> make_by_high() {
  std::array<std::uint8_t, 32> t{};
  const std::uint8_t by_high[8] = {kWsBit, 0, kLeetBit | kPunctB64 | kPercent, kDigitBit,
                                   kUpperHalf, kLowerHalf | kUnderscore, kUpperHalf, kLowerHalf};
  for (int hi = 0; hi < 8; ++hi) t[hi] = t[hi + 16] = by_high[hi];
  return t;  // high nibbles 8-F (non-ASCII bytes) belong to no class
}
constexpr std::array<std::uint8_t, 32> kByLow = make_by_low();
constexpr std::array<std::uint8_t, 32> kByHigh = make_by_high();

__attribute__((target("avx2"))) void masks_avx2(const unsigned char* p, std::size_t blocks,
                                                BlockMasks* out) noexcept {
  const __m256i by_low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kByLow.data()));
  const __m256i by_high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kByHigh.data()));
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  for (std::size_t b = 0; b < blocks; ++b) {
    BlockMasks m{};
    for (int half = 0; half < 2; ++half) {
      const __m256i v =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * b + 32 * half));
      const __m256i classes = _mm256_and_si256(
          _mm256_shuffle_epi8(by_low, _mm256_and_si256(v, nibble)),
          _mm256_shuffle_epi8(by_high, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble)));
      const __m256i escape = _mm256_or_si256(classes, _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\')));
      const std::uint64_t high = bits256(v, half);
      m.high |= high;
      m.ws |= bits256(_mm256_slli_epi16(classes, 3), half);  // kWsBit (16) to the top bit
      m.escape |= bits256(escape, half);                     // kPercent is the top bit
      m.letter |= any_of(classes, kUpperHalf | kLowerHalf, half);
      m.x |= any_of(classes, kDigitBit | kLeetBit, half);
      m.bang |= bits256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('!')), half);
      m.base64 |=
          any_of(classes, kUpperHalf | kLowerHalf | kDigitBit | kPunctB64 | kUnderscore, half);
      if (high != 0) {  // continuation bytes: only where there are non-ASCII bytes at all
        const __m256i cont = _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(0xC0)), v);
        m.cont |= bits256(_mm256_and_si256(v, cont), half);
      }
    }
    out[b] = m;
  }
}

bool cpu_has_avx2() noexcept {
  static const bool has = __builtin_cpu_supports("avx2") != 0;
  return has;
}
#endif

}  // namespace

void block_masks_batch(const unsigned char* p, std::size_t blocks, BlockMasks* out) noexcept {
#if defined(LLMWARD_HAVE_AVX2_PATH)
  if (cpu_has_avx2()) {
    masks_avx2(p, blocks, out);
    return;
  }
#endif
  for (std::size_t b = 0; b < blocks; ++b) out[b] = block_masks(p + 64 * b);
}

}  // namespace llmward::views::ascii
