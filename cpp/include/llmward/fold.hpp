// The folded view: evasion-resistant text with an exact map back to the
// original. Three steps over valid UTF-8:
//   1. every code point becomes its FoldTable replacement (invisibles removed,
//      compatibility forms, marks, look-alikes and whitespace folded);
//   2. separators between spaced-out single letters are removed
//      ("i g n o r e", "i.g.n.o.r.e" -> "ignore");
//   3. leetspeak is read inside words ("1gn0re", "pa$$w0rd").
#pragma once

#include <string_view>

#include "llmward/mapped_text.hpp"

namespace llmward::views {

// Folds `utf8` (valid UTF-8) into `out`, mapped to byte offsets of `utf8`.
// Returns false, leaving `out` unspecified, when the folded text would be
// byte-identical to the input. Plain ASCII text with nothing to fold is
// recognized in one vectorized pass without building anything. `checked`:
// the caller already knows may_fold() is true (from quick_scan()).
bool fold(std::string_view utf8, MappedText& out, bool checked = false);

// False guarantees that fold() changes nothing: the text is ASCII, has no
// whitespace to fold, no leet reading and no spaced-out letters. Non-ASCII
// text always answers true.
bool may_fold(std::string_view utf8) noexcept;

// may_fold() and may_decode() (decode.hpp) in one vectorized pass.
struct QuickScan {
  bool fold;
  bool decode;
};
QuickScan quick_scan(std::string_view utf8) noexcept;

}  // namespace llmward::views
