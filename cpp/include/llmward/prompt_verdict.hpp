// The guard's decision on a scanned prompt, natively, for the common case:
// every match that counts is confirmed by a check the core has (none, whole
// words, card, SSN, North American phone, e-mail shape), and the prompt is
// ASCII, so byte offsets are code points. Anything else (a Python validator,
// an allowlist, an unknown check result) leaves the decision to the Python
// guard, which reads the same scan; both implement one set of rules and a
// test compares them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llmward/prompt_scan.hpp"

namespace llmward::verdict {

enum class Action : std::uint8_t { kBlock, kRedact, kFlag };

// How a match is confirmed before it counts.
enum class Confirm : std::uint8_t {
  kAlways,
  kWordBoundary,  // no letter, digit or '_' on either side of a word character at an edge
  kCard,
  kSsn,
  kNanpPhone,
  kEmail,   // e-mail shape, and a top-level domain that is not a file suffix
  kPython,  // only the Python guard can decide
};

struct RulePolicy {
  std::string id;
  std::string category;
  std::string placeholder;
  Action action = Action::kFlag;  // the rule's action on prompts
  unsigned views = 0;             // views::kRaw | kFolded | kDecoded it counts in
  Confirm plain = Confirm::kAlways;    // for matches from the raw and folded views
  Confirm decoded = Confirm::kAlways;  // for matches from the decoded view
};

struct Policy {
  std::vector<std::vector<RulePolicy>> scanners;  // per scanner, by rule number
  std::vector<std::string> email_suffixes;        // sorted, lower case ("png", "jpg" ...)
};

struct Finding {
  std::uint32_t scanner;
  std::uint32_t rule;
  std::uint64_t start;  // offsets into the original prompt
  std::uint64_t end;
  std::uint8_t view;
};

// What the verdict's `sanitized` text is.
enum class Text : std::uint8_t { kEmpty, kCleaned, kRedacted };

struct Decision {
  bool decided = false;  // false: the Python guard decides from the scan
  bool allowed = false;
  std::vector<Finding> findings;
  Text text = Text::kEmpty;
  std::string redacted;  // the sanitized text with placeholders, for Text::kRedacted
  std::string reason;
};

// Decides on `original` (ASCII, which the caller checks) from its scan.
// Prompts of at most this many bytes are checked for visible content.
inline constexpr std::size_t kEmptyCheckBytes = 256;
Decision decide(const Policy& policy, const PromptScan& scan, std::string_view original);

}  // namespace llmward::verdict
