// BLAKE3, 8 inputs at once with AVX2 (this file alone is compiled with -mavx2).
// On x86-64 System V builds the rounds come from blake3_avx2_rounds.S.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "blake3_impl.hpp"

namespace llmward::blake3_impl {
namespace {

struct Avx2 {
  using T = __m256i;
  static constexpr std::size_t N = 8;
  static T set1(std::uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
  static T load(const std::uint32_t* p) {
    return _mm256_load_si256(reinterpret_cast<const T*>(p));
  }
  static T add(T a, T b) { return _mm256_add_epi32(a, b); }
  static T xor_(T a, T b) { return _mm256_xor_si256(a, b); }
  static T rot16(T x) {
    return _mm256_shuffle_epi8(
        x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9,
                           8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
  }
  static T rot8(T x) {
    return _mm256_shuffle_epi8(
        x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8,
                           11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
  }
  static T rot12(T x) { return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20)); }
  static T rot7(T x) { return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25)); }

  // 8x8 transpose of 32-bit elements: c[j] holds element j of every row.
  static void transpose8(const T r[8], T c[8]) {
    const T t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    const T t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const T t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    const T t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const T t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    const T t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const T t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    const T t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    const T u0 = _mm256_unpacklo_epi64(t0, t2);
    const T u1 = _mm256_unpackhi_epi64(t0, t2);
    const T u2 = _mm256_unpacklo_epi64(t1, t3);
    const T u3 = _mm256_unpackhi_epi64(t1, t3);
    const T u4 = _mm256_unpacklo_epi64(t4, t6);
    const T u5 = _mm256_unpackhi_epi64(t4, t6);
    const T u6 = _mm256_unpacklo_epi64(t5, t7);
    const T u7 = _mm256_unpackhi_epi64(t5, t7);
    c[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    c[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    c[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    c[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    c[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    c[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    c[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    c[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
  }
  static void load_transposed(const std::uint8_t* const* in, std::size_t offset, T m[16]) {
    for (std::size_t half = 0; half < 2; ++half) {
      T r[8];
      for (std::size_t i = 0; i < 8; ++i) {
        r[i] = _mm256_loadu_si256(reinterpret_cast<const T*>(in[i] + offset + 32 * half));
      }
      transpose8(r, m + 8 * half);
    }
  }
  static void store_transposed(const T h[8], std::uint8_t* out) {
    T c[8];
    transpose8(h, c);
    for (int i = 0; i < 8; ++i) _mm256_storeu_si256(reinterpret_cast<T*>(out + 32 * i), c[i]);
  }
};

#include "blake3_lanes.inc"

#ifdef LLMWARD_BLAKE3_AVX2_ASM
// hash_lanes<Avx2> with the rounds in blake3_avx2_rounds.S. The state stays
// in one aligned array that the assembly reads and writes; only the words
// that change between blocks (v8, which the assembly spills into its slot,
// and the flags) are set again per block. Prefetches as hash_lanes does.
extern "C" void llmward_blake3_avx2_rounds(__m256i state[16], const __m256i message[16]);

void hash_lanes_asm(const std::uint8_t* const* inputs, const std::uint8_t* const* next,
                    std::size_t blocks, const std::uint32_t key[8], std::uint64_t counter,
                    bool increment_counter, std::uint8_t flags, std::uint8_t flags_start,
                    std::uint8_t flags_end, std::uint8_t* out) {
  alignas(32) __m256i state[16];
  for (int i = 0; i < 8; ++i) state[i] = Avx2::set1(key[i]);
  alignas(32) std::uint32_t low[Avx2::N];
  alignas(32) std::uint32_t high[Avx2::N];
  for (std::size_t i = 0; i < Avx2::N; ++i) {
    const std::uint64_t c = counter + (increment_counter ? i : 0);
    low[i] = static_cast<std::uint32_t>(c);
    high[i] = static_cast<std::uint32_t>(c >> 32);
  }
  state[9] = Avx2::set1(kIV[1]);
  state[10] = Avx2::set1(kIV[2]);
  state[11] = Avx2::set1(kIV[3]);
  state[12] = Avx2::load(low);
  state[13] = Avx2::load(high);
  state[14] = Avx2::set1(kBlockLen);
  for (std::size_t b = 0; b < blocks; ++b) {
    std::uint8_t block_flags = flags;
    if (b == 0) block_flags |= flags_start;
    if (b + 1 == blocks) block_flags |= flags_end;
    for (std::size_t i = 0; i < Avx2::N; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(next[i] + b * kBlockLen), _MM_HINT_T0);
    }
    alignas(32) __m256i message[16];
    Avx2::load_transposed(inputs, b * kBlockLen, message);
    state[8] = Avx2::set1(kIV[0]);
    state[15] = Avx2::set1(block_flags);
    llmward_blake3_avx2_rounds(state, message);
  }
  Avx2::store_transposed(state, out);
}
#endif

}  // namespace

void hash_many_avx2(const std::uint8_t* const* inputs, std::size_t count, std::size_t blocks,
                    const std::uint32_t key[8], std::uint64_t counter, bool increment_counter,
                    std::uint8_t flags, std::uint8_t flags_start, std::uint8_t flags_end,
                    std::uint8_t* out) {
#ifdef LLMWARD_BLAKE3_AVX2_ASM
  hash_many_lanes<Avx2, hash_many_sse41, hash_lanes_asm>(inputs, count, blocks, key, counter,
                                                         increment_counter, flags, flags_start,
                                                         flags_end, out);
#else
  hash_many_lanes<Avx2, hash_many_sse41>(inputs, count, blocks, key, counter, increment_counter,
                                         flags, flags_start, flags_end, out);
#endif
}

}  // namespace llmward::blake3_impl
