// The decoded view: spans of the text that look encoded (base64, hex,
// percent-encoding) are decoded, twice at most, folded like the folded view,
// and joined with '\n'. Every byte maps to the encoded characters it came
// from (a base64 group of four, a hex pair, a %XX triple).
#pragma once

#include <cstddef>
#include <string_view>

#include "llmward/mapped_text.hpp"

namespace llmward::views {

// Total decoded bytes kept per text; encodings beyond it are ignored.
inline constexpr std::size_t kMaxDecodedBytes = 64 * 1024;
// Encodings are decoded this many levels deep (base64 inside hex: 2).
inline constexpr int kMaxDecodeDepth = 2;
// Shortest base64 run and shortest hex run (in characters) worth decoding.
inline constexpr std::size_t kMinEncodedRun = 16;

// Builds the decoded view of `utf8` (valid UTF-8) into `out`, mapped to byte
// offsets of `utf8`. Returns false when nothing was decoded. `checked`: the
// caller already knows may_decode() is true (from quick_scan()).
bool decode(std::string_view utf8, MappedText& out, bool checked = false);

// False guarantees that decode() finds nothing: no '%', no '\\' and no run of
// kMinEncodedRun base64 characters. One vectorized pass.
bool may_decode(std::string_view utf8) noexcept;

}  // namespace llmward::views
