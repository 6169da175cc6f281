// Normalized views of a text and scanning them: the raw text, the folded
// view (fold.hpp) and the decoded view (decode.hpp), each with an offset map
// so a match in any view is reported at the original characters.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "llmward/mapped_text.hpp"
#include "llmward/scan_match.hpp"
#include "llmward/scanner.hpp"

namespace llmward::views {

// View flags (VIEW_RAW, VIEW_FOLDED, VIEW_DECODED in Python).
inline constexpr unsigned kRaw = 1;
inline constexpr unsigned kFolded = 2;
inline constexpr unsigned kDecoded = 4;
inline constexpr unsigned kAllViews = kRaw | kFolded | kDecoded;

// View indices, the order in which views are scanned and deduplicated.
enum ViewIndex : std::uint8_t { kRawIndex = 0, kFoldedIndex = 1, kDecodedIndex = 2 };
const char* view_name(std::uint8_t index) noexcept;

struct View {
  std::uint8_t index;
  MappedText mapped;  // for the raw view: a copy of the text, identity map
};

// Builds the requested views of valid UTF-8 text, in the order raw, folded,
// decoded. A folded view identical to the raw text and a decoded view with
// nothing decoded are left out. Throws std::invalid_argument for unknown
// flags and std::length_error for texts over 4 GiB.
std::vector<View> build_views(std::string_view utf8, unsigned views);

// Scans every requested view of valid UTF-8 text. Matches carry byte offsets
// in `utf8` and the index of the view they were found in; a (rule, start,
// end) found in several views is reported once, from the first view in the
// order raw, folded, decoded. Sorted by (start, end, rule). A view whose text
// is identical to the raw text is not scanned again.
std::vector<RawMatch> scan_views(const Scanner& scanner, std::string_view utf8, unsigned views);

// The same for several scanners over views built once: one result per scanner.
std::vector<std::vector<RawMatch>> scan_views(const std::vector<const Scanner*>& scanners,
                                              std::string_view utf8, unsigned views);

// For streams: the largest byte offset o (on a character boundary) such that
// utf8[o:] is at least `distance` bytes long both as given and in the folded
// view, or -1 when the text is shorter than that. A match of at most
// `distance` bytes in either view that ends after the text cannot start
// before o.
std::int64_t hold_start(std::string_view utf8, std::size_t distance);

}  // namespace llmward::views
