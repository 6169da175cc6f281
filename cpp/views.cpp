#include "llmward/views.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "llmward/decode.hpp"
#include "llmward/fold.hpp"
#include "llmward/anchor_windows.hpp"

namespace llmward::views {
namespace {

void check_flags(unsigned views) {
  if ((views & ~kAllViews) != 0) {
    throw std::invalid_argument("unknown view flags: " + std::to_string(views & ~kAllViews) +
                                " (use VIEW_RAW | VIEW_FOLDED | VIEW_DECODED)");
  }
}

// Bytes of a view that differ from the raw text: bytes that are not a copy
// of the raw byte they map to, or that follow a gap (a removed invisible
// character, collapsed separators). Every match of the view that the raw scan
// cannot have found overlaps such a byte or reads one as context.
std::vector<std::size_t> changed_bytes(std::string_view raw, const MappedText& view) {
  const auto* t = reinterpret_cast<const unsigned char*>(view.text.data());
  const auto* r = reinterpret_cast<const unsigned char*>(raw.data());
  const std::size_t n = view.text.size();
  std::vector<std::size_t> out;
  if (view.map.empty()) {  // byte i came from byte i
    std::size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {  // 16 equal bytes at a time
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + i));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + i));
      auto differ = static_cast<unsigned>(~_mm_movemask_epi8(_mm_cmpeq_epi8(a, b))) & 0xFFFFu;
      for (; differ != 0; differ &= differ - 1) out.push_back(i + __builtin_ctz(differ));
    }
#endif
    for (; i < n; ++i) {
      if (t[i] != r[i]) out.push_back(i);
    }
    return out;
  }
  const Span* map = view.map.data();
  std::uint32_t expected = 0;  // where a copied byte must come from: the end of the last one
  for (std::size_t i = 0; i < n;) {
    // Fast path: 16 bytes copied in a row (each maps to the next raw byte).
    if (i + 16 <= n && map[i].begin == expected) {
      const std::uint32_t base = expected;
      unsigned same = 1;
      for (std::uint32_t k = 0; k < 16; ++k) {
        same &= static_cast<unsigned>(map[i + k].begin == base + k) &
                static_cast<unsigned>(map[i + k].end == base + k + 1);
      }
      if (same && base + 16 <= raw.size() && std::memcmp(t + i, r + base, 16) == 0) {
        i += 16;
        expected = base + 16;
        continue;
      }
    }
    const unsigned char lead = t[i];
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    const Span s = map[i];
    bool copied = s.begin == expected && s.end - s.begin == length && i + length <= n;
    for (std::size_t k = 0; copied && k < length; ++k) copied = r[s.begin + k] == t[i + k];
    if (!copied) out.push_back(i);
    expected = s.end;
    i += length;
  }
  return out;
}

// Scans a view and appends its matches, mapped to the original text. When the
// raw text was scanned too, only windows around the bytes the view changed
// need scanning (a folded view usually differs in a word or two): a window
// reaching the scanner's widest match + 4 bytes beyond a changed byte holds
// every match that involves it.
void scan_mapped(const Scanner& scanner, const std::vector<std::size_t>* changed,
                 const MappedText& view, std::uint8_t index, std::vector<RawMatch>& out) {
  check_scan_length(view.text.size());
  std::vector<RawMatch> found;
  if (changed != nullptr && scanner.widest() != kUnbounded) {
    WindowBuilder windows(view.text, scanner.widest() + 4);
    for (std::size_t position : *changed) windows.add(position);
    found = scanner.scan_windows(view.text, std::move(windows).finish());
  } else {
    found = scanner.scan(view.text);
  }
  for (const RawMatch& m : found) {
    const Span s = view.source(static_cast<std::size_t>(m.start), static_cast<std::size_t>(m.end));
    // A match made only of the '\n' between two decoded pieces covers no
    // original character: nothing to report.
    if (s.begin < s.end) out.push_back({m.rule, s.begin, s.end, index});
  }
}

// Mapping keeps spans monotonic but not their order (two view spans with one
// start can map to ends in either order), and can make two spans equal.
void sort_and_deduplicate(std::vector<RawMatch>& out) {
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

std::vector<std::vector<RawMatch>> scan_views(const std::vector<const Scanner*>& scanners,
                                              std::string_view utf8, unsigned views) {
  check_flags(views);
  check_scan_length(utf8.size());
  std::vector<std::vector<RawMatch>> out(scanners.size());
  bool mapped = false;  // matches from a view other than raw: sort and deduplicate
  if (views & kRaw) {
    for (std::size_t s = 0; s < scanners.size(); ++s) out[s] = scanners[s]->scan(utf8);
  }
  // One vectorized pass decides which views can differ from the raw text;
  // for plain ASCII prose neither can, and nothing more is built.
  const QuickScan quick =
      (views & (kFolded | kDecoded)) != 0 ? quick_scan(utf8) : QuickScan{false, false};
  if (views & kFolded) {
    MappedText folded;
    if (quick.fold && fold(utf8, folded, true)) {
      std::vector<std::size_t> changed;
      if (views & kRaw) changed = changed_bytes(utf8, folded);
      for (std::size_t s = 0; s < scanners.size(); ++s) {
        scan_mapped(*scanners[s], (views & kRaw) ? &changed : nullptr, folded, kFoldedIndex,
                    out[s]);
      }
      mapped = true;
    } else if (!(views & kRaw)) {  // identical to the raw text, which was not scanned
      for (std::size_t s = 0; s < scanners.size(); ++s) {
        out[s] = scanners[s]->scan(utf8);
        for (RawMatch& m : out[s]) m.view = kFoldedIndex;
      }
    }
  }
  if (views & kDecoded) {
    MappedText decoded;
    if (quick.decode && decode(utf8, decoded, true)) {
      for (std::size_t s = 0; s < scanners.size(); ++s) {
        scan_mapped(*scanners[s], nullptr, decoded, kDecodedIndex, out[s]);
      }
      mapped = true;
    }
  }
  if (mapped) {
    for (std::vector<RawMatch>& matches : out) sort_and_deduplicate(matches);
  }
  return out;
}

std::int64_t hold_start(std::string_view utf8, std::size_t distance) {
  if (distance == 0) return static_cast<std::int64_t>(utf8.size());  // nothing to hold
  if (utf8.size() < distance) return -1;
  std::size_t limit = utf8.size() - distance;
  if (quick_scan(utf8).fold) {
    MappedText folded;
    if (fold(utf8, folded, true)) {
      if (folded.text.size() < distance) return -1;
      limit = std::min<std::size_t>(limit, folded.source(folded.text.size() - distance).begin);
    }
  }
  while (limit > 0 && (static_cast<unsigned char>(utf8[limit]) & 0xC0) == 0x80) --limit;
  return static_cast<std::int64_t>(limit);
}

std::vector<RawMatch> scan_views(const Scanner& scanner, std::string_view utf8, unsigned views) {
  return std::move(scan_views(std::vector<const Scanner*>{&scanner}, utf8, views).front());
}

}  // namespace llmward::views
