// libFuzzer harness: the scanner on random rule sets and texts. A rule set
// either builds a Scanner or is refused with RuleError; a scan returns what
// an independent oracle finds (a byte-by-byte search for literal rules, one
// whole-text start-of-match Hyperscan scan per regex rule), in result order;
// and the normalized views add matches without losing any raw one
// (scanner.hpp, views.hpp).
#include <fuzzer/FuzzedDataProvider.h>
#include <hs.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_checks.hpp"
#include "llmward/errors.hpp"
#include "llmward/scanner.hpp"
#include "llmward/utf8.hpp"
#include "llmward/views.hpp"

namespace {

using llmward::RawMatch;
using llmward::Rule;
using fuzz::require;

struct Span {
  std::uint64_t start;
  std::uint64_t end;
  bool operator==(const Span& o) const { return start == o.start && end == o.end; }
  bool operator<(const Span& o) const { return start != o.start ? start < o.start : end < o.end; }
};

// Keeps the spans not contained in another one (the scanner's normalization).
std::vector<Span> outermost(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::vector<Span> out;
  for (const Span& s : spans) {
    if (out.empty() || s.end > out.back().end) out.push_back(s);
  }
  return out;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

std::vector<Span> literal_oracle(const Rule& rule, std::string_view text) {
  std::vector<Span> out;
  const std::string_view p = rule.pattern;
  for (std::size_t at = 0; at + p.size() <= text.size(); ++at) {
    bool equal = true;
    for (std::size_t k = 0; equal && k < p.size(); ++k) {
      equal = rule.caseless ? ascii_lower(text[at + k]) == ascii_lower(p[k]) : text[at + k] == p[k];
    }
    if (equal) out.push_back({at, at + p.size()});
  }
  return out;
}

int collect(unsigned, unsigned long long from, unsigned long long to, unsigned, void* ctx) {
  static_cast<std::vector<Span>*>(ctx)->push_back({from, to});
  return 0;
}

struct FreeDatabase {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
using OracleDatabase = std::unique_ptr<hs_database_t, FreeDatabase>;

// A regex rule compiled on its own to report every match over the whole text,
// leftmost start per end; null when Hyperscan cannot compile it this way.
OracleDatabase compile_oracle(const Rule& rule) {
  unsigned flags = HS_FLAG_UTF8 | HS_FLAG_SOM_LEFTMOST;
  if (rule.caseless) flags |= HS_FLAG_CASELESS;
  if (rule.dotall) flags |= HS_FLAG_DOTALL;
  if (rule.multiline) flags |= HS_FLAG_MULTILINE;
  if (rule.ucp) flags |= HS_FLAG_UCP;
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile(rule.pattern.c_str(), flags, HS_MODE_BLOCK, nullptr, &db, &error) != HS_SUCCESS) {
    hs_free_compile_error(error);
    return nullptr;
  }
  return OracleDatabase(db);
}

std::vector<Span> regex_oracle(const hs_database_t* db, std::string_view text) {
  std::vector<Span> out;
  hs_scratch_t* scratch = nullptr;
  require(hs_alloc_scratch(db, &scratch) == HS_SUCCESS, "oracle scratch");
  if (!text.empty()) {
    hs_scan(db, text.data(), static_cast<unsigned>(text.size()), 0, scratch, collect, &out);
  }
  hs_free_scratch(scratch);
  return out;
}

// Compiling a rule set costs tens of milliseconds and most mutations change only
// the text: compiled sets (or their refusal) are kept, keyed by the rules.
struct Compiled {
  std::unique_ptr<llmward::Scanner> scanner;  // null: refused with RuleError
  std::vector<OracleDatabase> oracles;        // per rule; null for literals
};

std::string cache_key(const std::vector<Rule>& rules) {
  std::string key;
  for (const Rule& rule : rules) {
    key += static_cast<char>(rule.literal | rule.caseless << 1 | rule.dotall << 2 |
                             rule.multiline << 3 | rule.ucp << 4);
    for (const std::string* part : {&rule.requires_any, &rule.pattern}) {
      key += std::to_string(part->size()) + ":" + *part;
    }
  }
  return key;
}

const Compiled& compile(const std::vector<Rule>& rules) {
  static std::map<std::string, Compiled> cache;
  const std::string key = cache_key(rules);
  if (auto found = cache.find(key); found != cache.end()) return found->second;
  if (cache.size() >= 512) cache.clear();
  Compiled compiled;
  try {
    compiled.scanner = std::make_unique<llmward::Scanner>(rules, "");
  } catch (const llmward::RuleError&) {
    // the documented refusal of a rule set
  }
  if (compiled.scanner) {
    for (const Rule& rule : rules) {
      compiled.oracles.push_back(rule.literal ? nullptr : compile_oracle(rule));
    }
  }
  return cache.emplace(key, std::move(compiled)).first->second;
}

// Hyperscan's compile time grows with bounded repeat counts (a group repeated
// {12015} times takes over a minute): rule sets are configuration, not hostile
// input, so the harness leaves counts over 100 out.
bool has_large_repeat(const std::string& pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{' && pattern[i] != ',') continue;
    std::size_t value = 0;
    for (std::size_t k = i + 1; k < pattern.size() && pattern[k] >= '0' && pattern[k] <= '9'; ++k) {
      value = std::min<std::size_t>(value * 10 + (pattern[k] - '0'), 1000000);
    }
    if (value > 100) return true;
  }
  return false;
}

bool contains_any(std::string_view text, Span s, const std::string& set, bool caseless) {
  for (std::uint64_t i = s.start; i < s.end; ++i) {
    for (char c : set) {
      if (caseless ? ascii_lower(text[i]) == ascii_lower(c) : text[i] == c) return true;
    }
  }
  return false;
}

std::vector<Span> spans_of(const std::vector<RawMatch>& matches, std::uint32_t rule) {
  std::vector<Span> out;
  for (const RawMatch& m : matches) {
    if (m.rule == rule) out.push_back({m.start, m.end});
  }
  return out;
}

// Results come in (start, end, rule) order, each (rule, start, end) once,
// inside the text; matches from a normalized view start and end on
// character boundaries of the text (they are mapped to whole characters).
void check_result_shape(const std::vector<RawMatch>& matches, std::string_view text,
                        std::size_t rules) {
  for (std::size_t i = 0; i < matches.size(); ++i) {
    const RawMatch& m = matches[i];
    require(m.rule < rules, "rule index out of range", m.rule);
    require(m.start < m.end && m.end <= text.size(), "match out of range", m.start, m.end);
    if (m.view != llmward::views::kRawIndex) {
      require(fuzz::is_boundary(text, m.start) && fuzz::is_boundary(text, m.end),
              "mapped match inside a character", m.start, m.end);
    }
    if (i > 0) {
      const RawMatch& p = matches[i - 1];
      require(llmward::result_order(p, m), "matches not in result order or repeated", i);
    }
  }
}

bool covered(const std::vector<RawMatch>& matches, const RawMatch& m) {
  for (const RawMatch& c : matches) {
    if (c.rule == m.rule && c.start <= m.start && m.end <= c.end) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  std::vector<Rule> rules(input.ConsumeIntegralInRange<int>(1, 3));
  for (std::size_t i = 0; i < rules.size(); ++i) {
    Rule& rule = rules[i];
    const auto flags = input.ConsumeIntegral<std::uint8_t>();
    rule.id = "r" + std::to_string(i);
    rule.literal = flags & 1;
    rule.caseless = flags & 2;
    rule.dotall = flags & 4;
    rule.multiline = flags & 8;
    rule.ucp = flags & 16;
    if (flags & 32) rule.requires_any = input.ConsumeRandomLengthString(16);
    // Short patterns: Hyperscan's compile time grows fast with pattern size.
    rule.pattern = input.ConsumeRandomLengthString(64);
  }
  for (const Rule& rule : rules) {
    if (!rule.literal && has_large_repeat(rule.pattern)) return 0;
  }
  const std::string text = llmward::utf8::repair(input.ConsumeRemainingBytesAsString());

  const Compiled& compiled = compile(rules);
  if (!compiled.scanner) return 0;
  const llmward::Scanner* scanner = compiled.scanner.get();

  const std::vector<RawMatch> found = scanner->scan(text);
  check_result_shape(found, text, rules.size());
  for (const RawMatch& m : found) require(m.view == 0, "raw scan tagged with a view");

  for (std::uint32_t r = 0; r < rules.size(); ++r) {
    const Rule& rule = rules[r];
    const std::vector<Span> got = spans_of(found, r);
    std::vector<Span> all;
    if (rule.literal) {
      if (rule.caseless && !llmward::utf8::is_ascii(rule.pattern)) continue;  // Unicode folding
      all = literal_oracle(rule, text);
    } else if (compiled.oracles[r]) {
      all = regex_oracle(compiled.oracles[r].get(), text);
    } else {
      continue;
    }
    const std::vector<Span> expected = outermost(all);
    if (rule.literal || rule.requires_any.empty()) {
      require(got == expected, "scan differs from the oracle", r, got.size() * 1000 + expected.size());
      continue;
    }
    // requires_any: matches with one of its characters are found, and
    // nothing is reported that is not a match.
    for (const Span& s : expected) {
      if (contains_any(text, s, rule.requires_any, rule.caseless)) {
        require(std::binary_search(got.begin(), got.end(), s), "anchored rule missed a match",
                s.start, s.end);
      }
    }
    std::sort(all.begin(), all.end());
    for (const Span& s : got) {
      require(std::binary_search(all.begin(), all.end(), s), "anchored rule reported a non-match",
              s.start, s.end);
    }
  }

  namespace v = llmward::views;
  const std::vector<RawMatch> every = v::scan_views(*scanner, text, v::kAllViews);
  check_result_shape(every, text, rules.size());
  for (const RawMatch& m : found) {
    require(std::find_if(every.begin(), every.end(),
                         [&](const RawMatch& e) {
                           return e.rule == m.rule && e.start == m.start && e.end == m.end &&
                                  e.view == v::kRawIndex;
                         }) != every.end(),
            "scan_views lost a raw match", m.start, m.end);
  }
  // Scanning only the bytes the folded view changed (next to a raw scan)
  // must cover whatever a full scan of the folded view finds.
  const std::vector<RawMatch> folded_only = v::scan_views(*scanner, text, v::kFolded);
  check_result_shape(folded_only, text, rules.size());
  const std::vector<RawMatch> raw_and_folded = v::scan_views(*scanner, text, v::kRaw | v::kFolded);
  for (const RawMatch& m : folded_only) {
    // A rule with requires_any is only promised the matches that hold one of its
    // characters (a whole-text scan may find others, a windowed one not).
    const Rule& rule = rules[m.rule];
    if (!rule.requires_any.empty() &&
        !contains_any(text, {m.start, m.end}, rule.requires_any, rule.caseless)) {
      continue;
    }
    require(covered(raw_and_folded, m), "windowed folded scan missed a match", m.start, m.end);
  }
  return 0;
}
