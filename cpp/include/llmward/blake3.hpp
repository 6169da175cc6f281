// BLAKE3 (hash, keyed hash, key derivation, extended output) from the BLAKE3
// specification, with SIMD compression of many chunks at once and optional
// multi-threaded hashing of large subtrees.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmward {

class Blake3 {
 public:
  static constexpr std::size_t kKeyLen = 32;
  static constexpr std::size_t kOutLen = 32;

  Blake3();                                  // hash mode
  explicit Blake3(const std::uint8_t* key);  // keyed mode: kKeyLen bytes
  static Blake3 derive_key(std::string_view context);

  // Worker threads for large updates (1: none; subtrees of at least
  // kMinBytesPerThread go to extra threads).
  void set_threads(unsigned threads) noexcept { threads_ = threads == 0 ? 1 : threads; }
  static constexpr std::size_t kMinBytesPerThread = 256 * 1024;

  void update(const void* data, std::size_t size);
  // `length` bytes of output starting at byte `seek` of the output stream.
  // The hasher stays usable: more input may follow.
  void finalize(std::uint8_t* out, std::size_t length, std::uint64_t seek = 0) const;
  std::array<std::uint8_t, kOutLen> digest() const;

  // Name of the SIMD code in use ("portable", "sse41", "avx2", "avx512").
  static const char* simd();
  // Every SIMD variant this CPU runs; select_simd(name) switches the process
  // to one of them (for tests and benchmarks). False for an unknown name.
  static std::vector<std::string> supported_simd();
  static bool select_simd(const std::string& name);

 private:
  struct Output;
  Blake3(const std::uint32_t key[8], std::uint8_t flags);

  std::size_t chunk_bytes() const noexcept { return blocks_done_ * 64 + block_len_; }
  void chunk_update(const std::uint8_t* data, std::size_t size);
  Output chunk_output() const;
  void reset_chunk(std::uint64_t counter);
  void merge_stack(std::uint64_t total_chunks);
  void push_cv(const std::uint8_t cv[32], std::uint64_t chunk_counter);

  std::uint32_t key_[8];
  std::uint8_t flags_;
  unsigned threads_ = 1;
  // The chunk being filled.
  std::uint32_t chunk_cv_[8];
  std::uint64_t chunk_counter_ = 0;
  std::uint8_t block_[64] = {};
  std::uint8_t block_len_ = 0;
  std::uint8_t blocks_done_ = 0;
  // Chaining values of completed subtrees, merged lazily: one per level of a
  // 2^64-byte tree (54), plus the pair of children an update may end with.
  std::uint8_t stack_[55 * 32];
  std::size_t stack_len_ = 0;
};

}  // namespace llmward
