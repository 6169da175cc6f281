// The per-code-point half of the folded view: what every code point becomes
// once invisible characters are removed, compatibility forms are folded,
// marks are dropped, look-alike letters take their Latin reading and
// whitespace becomes a space. Computed once per process from ICU (the only
// file that includes ICU headers is fold_table.cpp), then looked up in a
// two-level table: one load for the block, one for the entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmward::fold {

class FoldTable {
 public:
  // Entry layout: bits 0-5 length of the replacement in bytes, bit 6 "maps to
  // itself", bit 7 "is a letter or a mark" (general category L or M: part of
  // a word for separator collapsing and leetspeak), bits 8-31 offset of the
  // replacement in the pool.
  static constexpr std::uint32_t kLengthMask = 0x3F;
  static constexpr std::uint32_t kIdentity = 1u << 6;
  static constexpr std::uint32_t kWordChar = 1u << 7;
  static constexpr unsigned kOffsetShift = 8;

  // The process-wide table, built on first use (thread-safe, std::call_once).
  static const FoldTable& get();

  std::uint32_t entry(char32_t cp) const noexcept {
    return entries_[(static_cast<std::size_t>(index_[cp >> 8]) << 8) | (cp & 0xFF)];
  }
  // The replacement of an entry without kIdentity (UTF-8, possibly empty).
  std::string_view replacement(std::uint32_t entry) const noexcept {
    return std::string_view(pool_.data() + (entry >> kOffsetShift), entry & kLengthMask);
  }
  // One class byte per byte of the replacement: kWordByte for the bytes of
  // a non-ASCII letter or mark, 0 otherwise.
  const unsigned char* replacement_classes(std::uint32_t entry) const noexcept {
    return reinterpret_cast<const unsigned char*>(pool_.data()) + (entry >> kOffsetShift) +
           (entry & kLengthMask);
  }
  static constexpr unsigned char kWordByte = 0x80;
  bool is_word_char(char32_t cp) const noexcept { return (entry(cp) & kWordChar) != 0; }

  // Longest replacement in bytes (for sizing output buffers).
  std::size_t max_replacement() const noexcept { return max_replacement_; }

  FoldTable(const FoldTable&) = delete;
  FoldTable& operator=(const FoldTable&) = delete;

 private:
  FoldTable();

  std::vector<std::uint16_t> index_;    // cp >> 8 -> block number
  std::vector<std::uint32_t> entries_;  // block number * 256 + (cp & 0xFF)
  std::string pool_;                    // replacements: UTF-8 bytes, then their classes
  std::size_t max_replacement_ = 0;
};

}  // namespace llmward::fold
