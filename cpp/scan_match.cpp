#include "llmward/scan_match.hpp"

#include <algorithm>

namespace llmward {

void normalize_matches(std::vector<RawMatch>& matches) {
  if (matches.size() < 2) return;
  std::sort(matches.begin(), matches.end(), [](const RawMatch& a, const RawMatch& b) {
    if (a.rule != b.rule) return a.rule < b.rule;
    if (a.start != b.start) return a.start < b.start;
    return a.end > b.end;
  });
  // Within a rule, spans now come by start ascending, longest first: a span is
  // contained in an earlier one exactly when its end does not pass the furthest
  // end seen so far.
  std::size_t kept = 0;
  std::uint32_t rule = matches.front().rule;
  std::uint64_t furthest_end = 0;
  bool first = true;
  for (const RawMatch& m : matches) {
    if (first || m.rule != rule) {
      rule = m.rule;
      furthest_end = m.end;
      first = false;
      matches[kept++] = m;
    } else if (m.end > furthest_end) {
      furthest_end = m.end;
      matches[kept++] = m;
    }
  }
  matches.resize(kept);
  std::sort(matches.begin(), matches.end(), result_order);
}

}  // namespace llmward
