#include "llmward/prompt_scan.hpp"

#include "llmward/views.hpp"

namespace llmward {

PromptScan scan_prompt(const std::vector<const Scanner*>& scanners, std::string_view utf8,
                       unsigned views) {
  PromptScan result;
  result.cleaned = sanitize::sanitize(utf8);
  const std::string_view cleaned = result.cleaned.changed ? result.cleaned.text : utf8;
  result.matches = views::scan_views(scanners, cleaned, views);
  if (result.cleaned.removed) result.original_matches = views::scan_views(scanners, utf8, views);
  return result;
}

}  // namespace llmward
