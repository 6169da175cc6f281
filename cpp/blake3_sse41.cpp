// BLAKE3, 4 inputs at once with SSE4.1 (this file alone is compiled with -msse4.1).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "blake3_impl.hpp"

namespace llmward::blake3_impl {
namespace {

struct Sse41 {
  using T = __m128i;
  static constexpr std::size_t N = 4;
  static T set1(std::uint32_t x) { return _mm_set1_epi32(static_cast<int>(x)); }
  static T load(const std::uint32_t* p) { return _mm_load_si128(reinterpret_cast<const T*>(p)); }
  static T add(T a, T b) { return _mm_add_epi32(a, b); }
  static T xor_(T a, T b) { return _mm_xor_si128(a, b); }
  static T rot16(T x) {
    return _mm_shuffle_epi8(x, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
  }
  static T rot8(T x) {
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
  }
  static T rot12(T x) { return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20)); }
  static T rot7(T x) { return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25)); }

  // Rows r[i] -> columns: c[j] holds element j of every row.
  static void transpose4(T r0, T r1, T r2, T r3, T* c) {
    const T t0 = _mm_unpacklo_epi32(r0, r1);
    const T t1 = _mm_unpackhi_epi32(r0, r1);
    const T t2 = _mm_unpacklo_epi32(r2, r3);
    const T t3 = _mm_unpackhi_epi32(r2, r3);
    c[0] = _mm_unpacklo_epi64(t0, t2);
    c[1] = _mm_unpackhi_epi64(t0, t2);
    c[2] = _mm_unpacklo_epi64(t1, t3);
    c[3] = _mm_unpackhi_epi64(t1, t3);
  }
  static T row(const std::uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const T*>(p)); }
  static void load_transposed(const std::uint8_t* const* in, std::size_t offset, T m[16]) {
    for (std::size_t q = 0; q < 4; ++q) {
      const std::size_t at = offset + 16 * q;
      transpose4(row(in[0] + at), row(in[1] + at), row(in[2] + at), row(in[3] + at), m + 4 * q);
    }
  }
  static void store_transposed(const T h[8], std::uint8_t* out) {
    T lo[4], hi[4];
    transpose4(h[0], h[1], h[2], h[3], lo);
    transpose4(h[4], h[5], h[6], h[7], hi);
    for (int i = 0; i < 4; ++i) {
      _mm_storeu_si128(reinterpret_cast<T*>(out + 32 * i), lo[i]);
      _mm_storeu_si128(reinterpret_cast<T*>(out + 32 * i + 16), hi[i]);
    }
  }
};

#include "blake3_lanes.inc"

}  // namespace

void hash_many_sse41(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                     const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                     std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                     std::uint8_t* out) {
  hash_many_lanes<Sse41, hash_many_portable>(inputs, count, blocks, key, counter, increment_counter,
                              flags, flags_start, flags_end, out);
}

}  // namespace llmward::blake3_impl
