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

// Returns a copy in which every byte that is not part of a well-formed UTF-8
// sequence is replaced by kReplacementByte: byte offsets stay exact.
std::string repair(std::string_view bytes);

// Encodes code units of width `kind` (1: Latin-1, 2: UCS-2, 4: UCS-4) as
// UTF-8, appending to out. Lone surrogates become U+FFFD (one code point
// each), so code-point offsets are preserved.
void encode(const void* data, int kind, std::size_t length, std::string& out);

// Number of code points in a valid UTF-8 buffer.
std::uint64_t count_code_points(std::string_view utf8) noexcept;

// Rewrites start/end of each match from byte offsets in `utf8` to code-point
// offsets, in one pass over the text.
void to_code_point_offsets(std::string_view utf8, std::vector<RawMatch>& matches);

}  // namespace llmward::utf8
