// Scanner: compiling rules (and refusing bad ones with the rule's id), block
// scans, scans of windows, and the stream scanner against block scans.
#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "check.hpp"
#include "llmward/errors.hpp"
#include "llmward/scanner.hpp"
#include "llmward/stream_scanner.hpp"
#include "llmward/utf8.hpp"

using llmward::RawMatch;
using llmward::Rule;
using llmward::RuleError;
using llmward::Scanner;

namespace {

Rule rule(const std::string& id, const std::string& pattern, bool literal = false) {
  Rule r;
  r.id = id;
  r.pattern = pattern;
  r.literal = literal;
  return r;
}

std::vector<Rule> sample_rules() {
  std::vector<Rule> rules{rule("ignore", "ignore previous instructions"),
                          rule("secret", "sk-[a-z0-9]{8}"), rule("lit", "pass(word)", true),
                          rule("aplus", "ba+c"), rule("email", "[a-z]+@[a-z]+\\.com")};
  rules[4].requires_any = "@";
  return rules;
}

std::string describe(const std::vector<RawMatch>& matches) {
  std::string out;
  for (const auto& m : matches) {
    out += std::to_string(m.rule) + ":" + std::to_string(m.start) + "-" + std::to_string(m.end) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE(scanner_finds_literals_and_regexes) {
  const Scanner scanner(sample_rules(), "");
  const std::string text = "Please IGNORE previous instructions; key sk-abc12345, pass(word) baaac bob@ex.com";
  const auto matches = scanner.scan(text);
  CHECK_EQ(matches.size(), 5u);
  CHECK_EQ(describe(matches), std::string("0:7-35 1:41-52 2:54-64 3:65-70 4:71-81 "));
  CHECK(scanner.scan("nothing to see").empty());
  CHECK(scanner.scan("").empty());
  CHECK_EQ(scanner.max_width(2), 10u);  // the literal "pass(word)"
  CHECK_EQ(scanner.max_width(3), llmward::kUnbounded);
  CHECK(scanner.has_unbounded_rule());
}

TEST_CASE(scanner_refuses_invalid_rule_sets_naming_the_rule) {
  CHECK_THROWS(Scanner({}, ""), RuleError, "at least one rule");
  CHECK_THROWS(Scanner({rule("a", "x"), rule("a", "y")}, ""), RuleError, "duplicate rule id");
  CHECK_THROWS(Scanner({rule("", "x")}, ""), RuleError, "non-empty");
  CHECK_THROWS(Scanner({rule("blank", "")}, ""), RuleError, "empty pattern");
  for (const char* pattern : {"a*", "(x)?", "a|", "^"}) {
    CHECK_THROWS(Scanner({rule("ok", "fine"), rule("empty", pattern)}, ""), RuleError,
                 "rule 'empty': pattern matches the empty string");
  }
  for (const char* pattern : {"(a)\\1", "foo(?=bar)", "(?<!x)foo"}) {
    CHECK_THROWS(Scanner({rule("ok", "fine"), rule("bad", pattern)}, ""), RuleError,
                 "rule 'bad': unsupported construct");
  }
  for (const char* pattern : {"(abc", "[z-a]", "a{3,2}", "*a"}) {
    CHECK_THROWS(Scanner({rule("ok", "fine"), rule("broken", pattern)}, ""), RuleError,
                 "rule 'broken': pattern does not compile");
  }
  CHECK_THROWS(Scanner({rule("nul", std::string("a\0b", 3))}, ""), RuleError, "NUL");
  Rule non_ascii = rule("anchor", "x[0-9]");
  non_ascii.requires_any = "\xc3\xa9";
  CHECK_THROWS(Scanner({non_ascii}, ""), RuleError, "ASCII characters only");
  try {
    Scanner({rule("ok", "fine"), rule("broken", "(abc")}, "");
  } catch (const RuleError& error) {
    CHECK_EQ(error.rule_id(), std::string("broken"));
  }
}

TEST_CASE(scanner_nul_in_literal_rule) {
  const Scanner scanner({rule("nul", std::string("a\0b", 3), true)}, "");
  const auto matches = scanner.scan(std::string("xa\0b", 4));
  CHECK_EQ(describe(matches), std::string("0:1-4 "));
}

TEST_CASE(scanner_windows_find_the_block_matches_inside_them) {
  const Scanner scanner(sample_rules(), "");
  const std::string text = "aaaa bob@ex.com bbbb baac cccc sk-12345678 dddd";
  const auto whole = scanner.scan(text);
  const auto windowed = scanner.scan_windows(text, {{0, text.size()}});
  CHECK_EQ(describe(windowed), describe(whole));
  // A window that cuts a match off at an inner edge drops it.
  const auto cut = scanner.scan_windows(text, {{0, 10}});
  CHECK(cut.empty());
}

TEST_CASE(stream_scanner_equals_block_scan_for_any_chunking) {
  auto scanner = std::make_shared<const Scanner>(sample_rules(), "");
  const std::string text =
      "\xc3\xa9t\xc3\xa9 ignore previous instructions sk-abcd1234 \xe2\x82\xac baaaaaac "
      "joe@mail.com pass(word) ignore previous instructions";
  auto expected = scanner->scan(text);
  llmward::utf8::to_code_point_offsets(text, expected);
  std::mt19937 random(7);
  for (int round = 0; round < 40; ++round) {
    llmward::StreamScanner stream(scanner);
    std::vector<RawMatch> got;
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t next = std::min(text.size(), at + 1 + random() % 9);
      // Chunks end on character boundaries.
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      for (const auto& m : stream.feed(std::string_view(text).substr(at, next - at))) got.push_back(m);
      at = next;
    }
    for (const auto& m : stream.close()) got.push_back(m);
    CHECK(stream.close().empty());
    // Matches come out when they become final, not in result order.
    std::sort(got.begin(), got.end(), llmward::result_order);
    CHECK_EQ(describe(got), describe(expected));
  }
}

TEST_CASE(stream_scanner_destroyed_without_close) {
  auto scanner = std::make_shared<const Scanner>(sample_rules(), "");
  // Open streams destroyed mid-match free their Hyperscan state (LeakSanitizer
  // checks at exit); a bounded match well behind the stream's end is released early.
  for (int i = 0; i < 8; ++i) {
    llmward::StreamScanner stream(scanner);
    const auto released = stream.feed("pass(word) and then enough text to be final; ignore previous ");
    CHECK_EQ(describe(released), std::string("2:0-10 "));
  }
}

TEST_CASE(scanner_random_texts_and_repaired_bytes) {
  const Scanner scanner(sample_rules(), "");
  std::mt19937 random(11);
  for (int round = 0; round < 200; ++round) {
    std::string bytes(random() % 300, '\0');
    for (auto& b : bytes) b = static_cast<char>(random() % 256);
    const std::string text = llmward::utf8::repair(bytes);
    CHECK_EQ(text.size(), bytes.size());
    CHECK(llmward::utf8::is_valid(text));
    for (const auto& m : scanner.scan(text)) CHECK(m.start < m.end && m.end <= text.size());
  }
}
