#include "llmward/views.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "llmward/decode.hpp"
#include "llmward/fold.hpp"

namespace llmward::views {
namespace {

void check_flags(unsigned views) {
  if ((views & ~kAllViews) != 0) {
    throw std::invalid_argument("unknown view flags: " + std::to_string(views & ~kAllViews) +
                                " (use VIEW_RAW | VIEW_FOLDED | VIEW_DECODED)");
  }
}

// Scans a view and appends its matches, mapped to the original text.
void scan_mapped(const Scanner& scanner, const MappedText& view, std::uint8_t index,
                 std::vector<RawMatch>& out) {
  check_scan_length(view.text.size());
  for (const RawMatch& m : scanner.scan(view.text)) {
    const Span s = view.source(static_cast<std::size_t>(m.start), static_cast<std::size_t>(m.end));
    // A match made only of the '\n' between two decoded pieces covers no
    // original character: nothing to report.
    if (s.begin < s.end) out.push_back({m.rule, s.begin, s.end, index});
  }
}

}  // namespace

const char* view_name(std::uint8_t index) noexcept {
  switch (index) {
    case kRawIndex: return "raw";
    case kFoldedIndex: return "folded";
    case kDecodedIndex: return "decoded";
    default: return "unknown";
  }
}

std::vector<View> build_views(std::string_view utf8, unsigned views) {
  check_flags(views);
  check_scan_length(utf8.size());
  std::vector<View> out;
  if (views & kRaw) out.push_back({kRawIndex, MappedText{std::string(utf8), {}}});
  const QuickScan quick = quick_scan(utf8);
  if ((views & kFolded) && quick.fold) {
    View v{kFoldedIndex, {}};
    if (fold(utf8, v.mapped, true)) out.push_back(std::move(v));
  }
  if ((views & kDecoded) && quick.decode) {
    View v{kDecodedIndex, {}};
    if (decode(utf8, v.mapped, true)) out.push_back(std::move(v));
  }
  return out;
}

std::vector<RawMatch> scan_views(const Scanner& scanner, std::string_view utf8, unsigned views) {
  check_flags(views);
  check_scan_length(utf8.size());
  std::vector<RawMatch> out;
  bool mapped = false;  // matches from a view other than raw: sort and deduplicate
  if (views & kRaw) out = scanner.scan(utf8);
  // One vectorized pass decides which views can differ from the raw text;
  // for plain ASCII prose neither can, and nothing more is built.
  const QuickScan quick =
      (views & (kFolded | kDecoded)) != 0 ? quick_scan(utf8) : QuickScan{false, false};
  if (views & kFolded) {
    MappedText folded;
    if (quick.fold && fold(utf8, folded, true)) {
      scan_mapped(scanner, folded, kFoldedIndex, out);
      mapped = true;
    } else if (!(views & kRaw)) {  // identical to the raw text, which was not scanned
      out = scanner.scan(utf8);
      for (RawMatch& m : out) m.view = kFoldedIndex;
    }
  }
  if (views & kDecoded) {
    MappedText decoded;
    if (quick.decode && decode(utf8, decoded, true)) {
      scan_mapped(scanner, decoded, kDecodedIndex, out);
      mapped = true;
    }
  }
  // Mapping keeps spans monotonic but not their order (two view spans with
  // one start can map to ends in either order), and can make two spans equal.
  if (mapped) {
    std::sort(out.begin(), out.end(), [](const RawMatch& a, const RawMatch& b) {
      if (a.start != b.start) return a.start < b.start;
      if (a.end != b.end) return a.end < b.end;
      if (a.rule != b.rule) return a.rule < b.rule;
      return a.view < b.view;
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const RawMatch& a, const RawMatch& b) {
                            return a.start == b.start && a.end == b.end && a.rule == b.rule;
                          }),
              out.end());
  }
  return out;
}

}  // namespace llmward::views
