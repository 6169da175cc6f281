#include "llmward/prompt_scan.hpp"

#include <algorithm>

#include "llmward/anchor_windows.hpp"
#include "llmward/fold.hpp"
#include "llmward/views.hpp"

namespace llmward {
namespace {

// The original bytes no piece of the sanitized text came from (tags,
// control characters, stripped ends), each widened by `radius`.
std::vector<Window> removed_windows(std::string_view original, const sanitize::Sanitized& cleaned,
                                    std::uint64_t radius) {
  WindowBuilder windows(original, 0);  // ranges are widened here, not by the builder
  auto add_gap = [&](std::size_t begin, std::size_t end) {
    if (begin >= end) return;
    windows.add_range(begin > radius ? begin - radius : 0,
                      static_cast<std::size_t>(std::min<std::uint64_t>(end + radius, original.size())));
  };
  std::size_t covered = 0;
  for (const sanitize::Piece& piece : cleaned.pieces) {
    add_gap(covered, piece.in);
    covered = std::max<std::size_t>(covered, piece.in_end);
  }
  add_gap(covered, original.size());
  return std::move(windows).finish();
}

// Matches in the original that sanitization may have hidden. Only a match
// that overlaps or reads a removed byte can be missing from the scan of the
// sanitized text. When the original's folded and decoded views would be the
// raw text (plain text around a fake tag), the original is scanned raw in
// windows reaching the widest rule + 4 bytes beyond each removal. Otherwise
// (a folded match can span any number of removed invisible characters) all
// of its views are scanned whole.
std::vector<std::vector<RawMatch>> scan_removed(const std::vector<const Scanner*>& scanners,
                                                std::string_view original,
                                                const sanitize::Sanitized& cleaned,
                                                unsigned views) {
  std::uint64_t widest = 0;
  for (const Scanner* scanner : scanners) widest = std::max(widest, scanner->widest());
  const views::QuickScan quick = views::quick_scan(original);
  if (widest == kUnbounded || quick.fold || quick.decode) {
    return views::scan_views(scanners, original, views);
  }
  std::vector<std::vector<RawMatch>> out(scanners.size());
  // As scan_views labels a folded view identical to the raw text; a decoded
  // view does not exist.
  if ((views & (views::kRaw | views::kFolded)) == 0) return out;
  const std::uint8_t label = (views & views::kRaw) ? views::kRawIndex : views::kFoldedIndex;
  const std::vector<Window> windows = removed_windows(original, cleaned, widest + 4);
  for (std::size_t s = 0; s < scanners.size(); ++s) {
    out[s] = scanners[s]->scan_windows(original, windows);
    for (RawMatch& m : out[s]) m.view = label;
  }
  return out;
}

}  // namespace

PromptScan scan_prompt(const std::vector<const Scanner*>& scanners, std::string_view utf8,
                       unsigned views) {
  PromptScan result;
  result.cleaned = sanitize::sanitize(utf8);
  const std::string_view cleaned = result.cleaned.changed ? result.cleaned.text : utf8;
  result.matches = views::scan_views(scanners, cleaned, views);
  if (result.cleaned.removed) {
    result.original_matches = scan_removed(scanners, utf8, result.cleaned, views);
  }
  return result;
}

}  // namespace llmward
