// UTF-8 helpers: validation, length-preserving repair, encoding of Python's
// internal string layouts, and byte-to-code-point offset conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llmward/scan_match.hpp"

namespace llmward::utf8 {

// Byte used in place of each byte of an invalid sequence: an ASCII control
// character, so repair never creates a letter or digit a rule could match.
inline constexpr char kReplacementByte = 0x1A;

bool is_valid(std::string_view bytes) noexcept;
bool is_ascii(std::string_view bytes) noexcept;

// Returns a copy in which every byte that is not part of a well-formed UTF-8
// sequence is replaced by kReplacementByte: byte offsets stay exact.
std::string repair(std::string_view bytes);

// Appends one code point as UTF-8; a surrogate becomes U+FFFD.
void append(std::string& out, std::uint32_t code_point);

// Encodes code units of width `kind` (1: Latin-1, 2: UCS-2, 4: UCS-4) as
// UTF-8, appending to out. Lone surrogates become U+FFFD (one code point
// each), so code-point offsets are preserved.
void encode(const void* data, int kind, std::size_t length, std::string& out);

// Decodes the character at p (p < end). A well-formed sequence gives its
// code point and length; anything else gives U+FFFD with length 1, so a
// caller walking a buffer never reads past `end`, whatever the bytes.
inline char32_t next(const unsigned char* p, const unsigned char* end, std::size_t& length) noexcept {
  const unsigned char b0 = p[0];
  const auto avail = static_cast<std::size_t>(end - p);
  auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  length = 1;
  if (b0 < 0x80) return b0;
  if (b0 >= 0xC2 && b0 <= 0xDF && avail >= 2 && cont(p[1])) {
    length = 2;
    return (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && avail >= 3 && cont(p[1]) && cont(p[2])) {
    const char32_t cp = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
      length = 3;
      return cp;
    }
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && avail >= 4 && cont(p[1]) && cont(p[2]) && cont(p[3])) {
    const char32_t cp = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
                        (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (cp >= 0x10000 && cp <= 0x10FFFF) {
      length = 4;
      return cp;
    }
  }
  return 0xFFFD;
}

// Number of code points in a valid UTF-8 buffer.
std::uint64_t count_code_points(std::string_view utf8) noexcept;

// Rewrites start/end of each match from byte offsets in `utf8` to code-point
// offsets, in one pass over the text.
void to_code_point_offsets(std::string_view utf8, std::vector<RawMatch>& matches);

}  // namespace llmward::utf8
