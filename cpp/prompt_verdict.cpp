#include "llmward/prompt_verdict.hpp"

#include <algorithm>
#include <tuple>

#include "llmward/pii_checks.hpp"
#include "llmward/views.hpp"

namespace llmward::verdict {
namespace {

bool is_word_char(unsigned char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool whole_words(std::string_view text, std::size_t start, std::size_t end) noexcept {
  if (start >= end) return false;
  const auto at = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  if (is_word_char(at(start)) && start > 0 && is_word_char(at(start - 1))) return false;
  return !(is_word_char(at(end - 1)) && end < text.size() && is_word_char(at(end)));
}

pii::Check to_check(bool ok) noexcept { return ok ? pii::Check::kValid : pii::Check::kInvalid; }

pii::Check run(Confirm confirm, const Policy& policy, std::string_view text, std::size_t start,
               std::size_t end) {
  switch (confirm) {
    case Confirm::kAlways: return pii::Check::kValid;
    case Confirm::kWordBoundary: return to_check(whole_words(text, start, end));
    case Confirm::kCard: return pii::credit_card(text, start, end);
    case Confirm::kSsn: return pii::ssn(text, start, end);
    case Confirm::kNanpPhone: return pii::nanp_phone(text, start, end);
    case Confirm::kEmail: {
      std::string tld;
      const pii::Check shape = pii::email_shape(text, start, end, tld);
      if (shape != pii::Check::kValid) return shape;
      return to_check(!std::binary_search(policy.email_suffixes.begin(),
                                          policy.email_suffixes.end(), tld));
    }
    case Confirm::kPython: break;
  }
  return pii::Check::kUnknown;
}

struct Hit {
  std::uint32_t scanner;
  RawMatch match;
};

// Matches of every scanner in one list: in scanner order, then stably by
// span when more than one scanner found something (as the Python guard merges).
std::vector<Hit> merged(const std::vector<std::vector<RawMatch>>& per_scanner) {
  std::vector<Hit> hits;
  std::size_t scanners_with_matches = 0;
  for (std::uint32_t s = 0; s < per_scanner.size(); ++s) {
    scanners_with_matches += !per_scanner[s].empty();
    for (const RawMatch& m : per_scanner[s]) hits.push_back({s, m});
  }
  if (scanners_with_matches > 1) {
    std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
      return std::tie(a.match.start, a.match.end) < std::tie(b.match.start, b.match.end);
    });
  }
  return hits;
}

// The hits that count (view, check); false when a check is Python's to run.
bool confirm(const Policy& policy, const std::vector<std::vector<RawMatch>>& per_scanner,
             std::string_view text, std::vector<Hit>& out) {
  for (const Hit& hit : merged(per_scanner)) {
    const RulePolicy& rule = policy.scanners[hit.scanner][hit.match.rule];
    if ((rule.views & (1u << hit.match.view)) == 0) continue;
    const Confirm how = hit.match.view == views::kDecodedIndex ? rule.decoded : rule.plain;
    switch (run(how, policy, text, hit.match.start, hit.match.end)) {
      case pii::Check::kValid: out.push_back(hit); break;
      case pii::Check::kInvalid: break;
      case pii::Check::kUnknown: return false;
    }
  }
  return true;
}

bool looks_empty(std::string_view text) noexcept {
  if (text.size() > kEmptyCheckBytes) return false;
  return std::none_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

struct Span {
  std::uint64_t start;
  std::uint64_t end;
  const std::string* placeholder;
};

// Overlapping spans become one with the placeholder of the one that starts
// first (the longest on a tie); touching spans stay apart.
std::string apply_redactions(std::string_view text, std::vector<Span> spans) {
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::vector<Span> joined;
  for (const Span& span : spans) {
    if (!joined.empty() && span.start < joined.back().end) {
      joined.back().end = std::max(joined.back().end, span.end);
    } else {
      joined.push_back(span);
    }
  }
  std::string out;
  out.reserve(text.size());
  std::uint64_t position = 0;
  for (const Span& span : joined) {
    out.append(text.substr(position, span.start - position));
    out.append(*span.placeholder);
    position = span.end;
  }
  out.append(text.substr(position));
  return out;
}

}  // namespace

Decision decide(const Policy& policy, const PromptScan& scan, std::string_view original) {
  Decision d;
  const std::string_view cleaned = scan.cleaned.changed ? scan.cleaned.text : original;
  if (cleaned.empty() || looks_empty(cleaned)) {
    d.decided = true;
    d.reason = "empty prompt";
    return d;
  }
  std::vector<Hit> found;
  if (!confirm(policy, scan.matches, cleaned, found)) return d;
  for (const Hit& h : found) {
    d.findings.push_back({h.scanner, h.match.rule, scan.cleaned.start_in_original(h.match.start),
                          scan.cleaned.end_in_original(h.match.end), h.match.view});
  }
  if (scan.cleaned.removed) {  // what sanitization dropped is still reported
    std::vector<Hit> in_original;
    if (!confirm(policy, scan.original_matches, original, in_original)) return d;
    const auto key = [&](const Finding& f) {
      return std::make_tuple(f.start, f.end, std::string_view(policy.scanners[f.scanner][f.rule].id));
    };
    const std::size_t from_cleaned = d.findings.size();
    for (const Hit& h : in_original) {
      const Finding f{h.scanner, h.match.rule, h.match.start, h.match.end, h.match.view};
      const bool seen = std::any_of(d.findings.begin(), d.findings.begin() + from_cleaned,
                                    [&](const Finding& g) { return key(g) == key(f); });
      if (!seen) d.findings.push_back(f);
    }
    std::stable_sort(d.findings.begin(), d.findings.end(),
                     [&](const Finding& a, const Finding& b) { return key(a) < key(b); });
  }
  d.decided = true;
  for (const Finding& f : d.findings) {
    const RulePolicy& rule = policy.scanners[f.scanner][f.rule];
    if (rule.action == Action::kBlock) {
      d.reason = "blocked: " + rule.category + " (" + rule.id + ")";
      return d;
    }
  }
  d.allowed = true;
  std::vector<Span> redactions;
  for (const Hit& h : found) {
    const RulePolicy& rule = policy.scanners[h.scanner][h.match.rule];
    if (rule.action == Action::kRedact) {
      redactions.push_back({h.match.start, h.match.end, &rule.placeholder});
    }
  }
  if (redactions.empty()) {
    d.text = Text::kCleaned;
    d.reason = "ok";
    return d;
  }
  d.text = Text::kRedacted;
  d.redacted = apply_redactions(cleaned, std::move(redactions));
  std::vector<std::string_view> categories;
  for (const Finding& f : d.findings) {
    const RulePolicy& rule = policy.scanners[f.scanner][f.rule];
    if (rule.action == Action::kRedact) categories.emplace_back(rule.category);
  }
  std::sort(categories.begin(), categories.end());
  categories.erase(std::unique(categories.begin(), categories.end()), categories.end());
  d.reason = "redacted: ";
  for (std::size_t i = 0; i < categories.size(); ++i) {
    if (i > 0) d.reason += ", ";
    d.reason.append(categories[i]);
  }
  return d;
}

}  // namespace llmward::verdict
