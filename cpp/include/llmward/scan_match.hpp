// Raw scan results (rule index + offsets) and the span normalization both the
// block and the stream scanner apply.
#pragma once

#include <cstdint>
#include <vector>

namespace llmward {

struct RawMatch {
  std::uint32_t rule;   // index into the scanner's rule list
  std::uint64_t start;  // byte offset (code points once converted)
  std::uint64_t end;    // exclusive
  std::uint8_t view = 0;  // normalized view it was found in (views::ViewIndex; 0: raw)
};

// Order in which results are returned: by start, then end, then rule index.
inline bool result_order(const RawMatch& a, const RawMatch& b) {
  if (a.start != b.start) return a.start < b.start;
  if (a.end != b.end) return a.end < b.end;
  return a.rule < b.rule;
}

// Keeps, per rule, only spans not contained in another span of the same rule
// (Hyperscan reports every end offset; "a+" on "aaa" yields [0,1) [0,2) [0,3)),
// then sorts in result order.
void normalize_matches(std::vector<RawMatch>& matches);

}  // namespace llmward
