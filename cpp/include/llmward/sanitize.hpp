// Prompt sanitization with a map back to the original text: HTML/XML tags and
// runs of control characters are removed, whitespace runs become one space,
// and the result is stripped of leading and trailing spaces.
//
// The rules, per position, first that applies (offsets are UTF-8 bytes; the
// counts are code points):
//   tag   '<', a character that is not '<', '>' or whitespace, up to 1,023
//         characters that are not '<' or '>', then '>': removed;
//   ctrl  a run of U+0000-0008, U+000E-001F, U+007F-0084, U+0086-009F: removed;
//   ws    a run of two or more whitespace characters (Python's str.isspace(),
//         so U+001C-001F count once the run started with whitespace), or one
//         whitespace character other than ' ': replaced by one ' '.
// Everything else is copied. The guard scans the sanitized text (what is
// forwarded), so a removal can never assemble a match the scan did not see.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmward::sanitize {

// Sanitized text from `out` on came from the original at `in`; a copied piece
// maps byte for byte, a replaced one (a space for a whitespace run) stands for
// the whole original range [in, in_end).
struct Piece {
  std::uint32_t out;
  std::uint32_t in;
  std::uint32_t in_end;
  bool replaced;
};

struct Sanitized {
  bool changed = false;  // false: the text is the original, `text` is left empty
  bool removed = false;  // tags or control characters were dropped (not only whitespace)
  std::string text;
  std::vector<Piece> pieces;  // sorted by `out`; empty when unchanged

  // Original offset of a sanitized offset, as a span start or a span end: a
  // span reaching into a replaced piece widens to the whole original piece.
  std::uint64_t start_in_original(std::uint64_t offset) const noexcept;
  std::uint64_t end_in_original(std::uint64_t offset) const noexcept;
};

// Sanitizes valid UTF-8 (throws std::length_error past 4 GiB).
Sanitized sanitize(std::string_view utf8);

// Rewrites a Sanitized's piece offsets from bytes to code points, given the
// sanitized and original texts (both valid UTF-8).
void pieces_to_code_points(Sanitized& s, std::string_view original);

}  // namespace llmward::sanitize
