// BLAKE3, 16 inputs at once with AVX-512F (this file alone is compiled with
// -mavx512f). Chosen at run time only on CPUs that report AVX-512F.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "blake3_impl.hpp"

namespace llmward::blake3_impl {
namespace {

struct Avx512 {
  using T = __m512i;
  static constexpr std::size_t N = 16;
  static T set1(std::uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
  static T load(const std::uint32_t* p) { return _mm512_load_si512(p); }
  static T add(T a, T b) { return _mm512_add_epi32(a, b); }
  static T xor_(T a, T b) { return _mm512_xor_si512(a, b); }
  static T rot16(T x) { return _mm512_ror_epi32(x, 16); }
  static T rot12(T x) { return _mm512_ror_epi32(x, 12); }
  static T rot8(T x) { return _mm512_ror_epi32(x, 8); }
  static T rot7(T x) { return _mm512_ror_epi32(x, 7); }

  // 16x16 transpose of 32-bit elements: c[j] holds element j of every row.
  // Within each 128-bit lane, 4x4 blocks are transposed with unpacks; the
  // lanes are then regrouped with two rounds of 128-bit shuffles.
  static void transpose16(const T r[16], T c[16]) {
    T u[4][4];  // u[g][k], 128-bit lane L: rows 4g..4g+3 of column 4L+k
    for (int g = 0; g < 4; ++g) {
      const T t0 = _mm512_unpacklo_epi32(r[4 * g], r[4 * g + 1]);
      const T t1 = _mm512_unpackhi_epi32(r[4 * g], r[4 * g + 1]);
      const T t2 = _mm512_unpacklo_epi32(r[4 * g + 2], r[4 * g + 3]);
      const T t3 = _mm512_unpackhi_epi32(r[4 * g + 2], r[4 * g + 3]);
      u[g][0] = _mm512_unpacklo_epi64(t0, t2);
      u[g][1] = _mm512_unpackhi_epi64(t0, t2);
      u[g][2] = _mm512_unpacklo_epi64(t1, t3);
      u[g][3] = _mm512_unpackhi_epi64(t1, t3);
    }
    for (int k = 0; k < 4; ++k) {
      const T s0 = _mm512_shuffle_i32x4(u[0][k], u[1][k], _MM_SHUFFLE(2, 0, 2, 0));
      const T s1 = _mm512_shuffle_i32x4(u[0][k], u[1][k], _MM_SHUFFLE(3, 1, 3, 1));
      const T s2 = _mm512_shuffle_i32x4(u[2][k], u[3][k], _MM_SHUFFLE(2, 0, 2, 0));
      const T s3 = _mm512_shuffle_i32x4(u[2][k], u[3][k], _MM_SHUFFLE(3, 1, 3, 1));
      c[k] = _mm512_shuffle_i32x4(s0, s2, _MM_SHUFFLE(2, 0, 2, 0));       // lane 0
      c[4 + k] = _mm512_shuffle_i32x4(s1, s3, _MM_SHUFFLE(2, 0, 2, 0));   // lane 1
      c[8 + k] = _mm512_shuffle_i32x4(s0, s2, _MM_SHUFFLE(3, 1, 3, 1));   // lane 2
      c[12 + k] = _mm512_shuffle_i32x4(s1, s3, _MM_SHUFFLE(3, 1, 3, 1));  // lane 3
    }
  }
  static void load_transposed(const std::uint8_t* const* in, std::size_t offset, T m[16]) {
    T r[16];
    for (std::size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(in[i] + offset);
    transpose16(r, m);
  }
  static void store_transposed(const T h[8], std::uint8_t* out) {
    T r[16], c[16];
    for (int i = 0; i < 8; ++i) r[i] = h[i];
    for (int i = 8; i < 16; ++i) r[i] = _mm512_setzero_si512();
    transpose16(r, c);
    for (int i = 0; i < 16; ++i) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * i), _mm512_castsi512_si256(c[i]));
    }
  }
};

#include "blake3_lanes.inc"

}  // namespace

void hash_many_avx512(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                      const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                      std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                      std::uint8_t* out) {
  hash_many_lanes<Avx512, hash_many_avx2>(inputs, count, blocks, key, counter, increment_counter,
                              flags, flags_start, flags_end, out);
}

}  // namespace llmward::blake3_impl
