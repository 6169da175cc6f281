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
};

// Width of the longest possible match, in bytes; kUnbounded for '+', '*', '{n,}'.
inline constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

}  // namespace llmward
