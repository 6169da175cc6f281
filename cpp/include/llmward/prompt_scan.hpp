// The guard's native work on one prompt: sanitize it, then scan the requested
// views of the sanitized text with every scanner (views are built once); when
// sanitization removed something, the original is scanned too around what was
// removed, so that a fake "<system>" tag is still reported.
#pragma once

#include <string_view>
#include <vector>

#include "llmward/sanitize.hpp"
#include "llmward/scan_match.hpp"
#include "llmward/scanner.hpp"

namespace llmward {

struct PromptScan {
  sanitize::Sanitized cleaned;
  // Per scanner, byte offsets into the sanitized text (the original when
  // sanitization changed nothing).
  std::vector<std::vector<RawMatch>> matches;
  // Per scanner, byte offsets into the original: every match that overlaps
  // or touches a removed tag or control character, and possibly others (all
  // of the original's unless its views are plain raw text); empty unless
  // cleaned.removed.
  std::vector<std::vector<RawMatch>> original_matches;
};

PromptScan scan_prompt(const std::vector<const Scanner*>& scanners, std::string_view utf8,
                       unsigned views);

}  // namespace llmward
