// A scanning rule: an identified pattern plus the flags it is compiled with.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace llmward {

struct Rule {
  std::string id;
  std::string pattern;   // UTF-8
  std::string category;  // free-form label carried to matches (e.g. "pii.email")
  bool literal = false;  // compile with Hyperscan's literal API (no regex syntax)
  bool caseless = true;
  bool dotall = false;     // '.' also matches newline
  bool multiline = false;  // '^'/'$' match at line boundaries
  bool ucp = false;        // Unicode semantics for \w \d \s \b (slower)
  // ASCII characters of which every match contains at least one (digits for
  // a card number, "@" for an e-mail address); empty when there is no such
  // set. A bounded regex rule with one is detected by scanning only the text
  // around those characters. A wrong set makes the rule miss matches.
  std::string requires_any;
};

// Width of the longest possible match, in bytes; kUnbounded for '+', '*', '{n,}'.
inline constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

}  // namespace llmward
