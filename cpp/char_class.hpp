// Private: ASCII character classes and a bounds-checked UTF-8 decoder shared
// by the folding, the decoding and the quick scans.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "llmward/utf8.hpp"

namespace llmward::views::ascii {

enum : std::uint8_t {
  kLetter = 1,     // A-Z a-z
  kDigit = 2,      // 0-9
  kLeetSym = 4,    // $ !  (part of a token, folded in words)
  kSep = 8,        // separators between spaced-out letters: space . - _ * | / ,
  kWsFold = 16,    // whitespace other than space and '\n': \t \v \f \r
  kBase64 = 32,    // A-Z a-z 0-9 + / - _ (both alphabets)
  kHex = 64,       // 0-9 A-F a-f
  kLeet = 128,     // characters with a leet reading: 0 1 3 4 5 7 $ !
};
inline constexpr std::uint8_t kToken = kLetter | kDigit | kLeetSym;

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kLetter | kBase64;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kLetter | kBase64;
  for (int c = '0'; c <= '9'; ++c) t[c] |= kDigit | kBase64 | kHex;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kHex;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kHex;
  t['$'] |= kLeetSym | kLeet;
  t['!'] |= kLeetSym | kLeet;
  for (char c : {'0', '1', '3', '4', '5', '7'}) t[static_cast<unsigned char>(c)] |= kLeet;
  for (char c : {' ', '.', '-', '_', '*', '|', '/', ','}) t[static_cast<unsigned char>(c)] |= kSep;
  for (char c : {'+', '/', '-', '_'}) t[static_cast<unsigned char>(c)] |= kBase64;
  for (char c : {'\t', '\v', '\f', '\r'}) t[static_cast<unsigned char>(c)] |= kWsFold;
  return t;
}
inline constexpr std::array<std::uint8_t, 256> kClasses = make_classes();

inline std::uint8_t cls(unsigned char c) noexcept { return kClasses[c]; }

// Bit of a separator character in a separator-kind mask (0 for others).
inline std::uint8_t sep_bit(unsigned char c) noexcept {
  switch (c) {
    case ' ': return 1;
    case '.': return 2;
    case '-': return 4;
    case '_': return 8;
    case '*': return 16;
    case '|': return 32;
    case '/': return 64;
    case ',': return 128;
    default: return 0;
  }
}

// The letter a leet character stands for.
inline char leet_reading(unsigned char c) noexcept {
  switch (c) {
    case '0': return 'o';
    case '1': return 'i';
    case '3': return 'e';
    case '4': return 'a';
    case '5': return 's';
    case '7': return 't';
    case '$': return 's';
    case '!': return 'i';
    default: return static_cast<char>(c);
  }
}

inline int hex_value(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bounds-checked decoding of one character (see utf8::next).
inline char32_t decode(const unsigned char* p, const unsigned char* end, std::size_t& length) noexcept {
  return utf8::next(p, end, length);
}

}  // namespace llmward::views::ascii
