#include "llmward/rule_compiler.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <cstdlib>
#include <string>
#include <unordered_set>

#include "llmward/errors.hpp"
#include "llmward/utf8.hpp"

namespace llmward {
namespace {

constexpr char kCacheFormat[] = "llmward-hyperscan-v4";

// Hyperscan's literal API folds ASCII case only; a caseless literal with
// non-ASCII letters is compiled as an escaped regex in UTF-8 mode instead,
// where Hyperscan applies Unicode simple case folding.
bool compiles_as_literal(const Rule& rule) {
  return rule.literal && (!rule.caseless || utf8::is_ascii(rule.pattern));
}

std::string escape_literal(const std::string& literal) {
  std::string out;
  static const char* digits = "0123456789abcdef";
  for (unsigned char c : literal) {
    if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

std::string regex_source(const Rule& rule) {
  return rule.literal ? escape_literal(rule.pattern) : rule.pattern;
}

// The fast database only finds where rules fired (their ends); exact spans come from
// the rule's own SOM database. So it may match a superset: dropping a leading
// or trailing word-boundary assertion only ever adds matches, and spares
// Hyperscan a costly check at every position (5.8 -> 1.0 us per 4 KB for the
// seed's e-mail pattern). Falls back to the exact pattern if the relaxed one
// does not compile or could match the empty string.
std::string relaxed_for_detection(const std::string& pattern) {
  std::string out = pattern;
  auto is_quantifier = [](char c) { return c == '*' || c == '+' || c == '?' || c == '{'; };
  if (out.size() > 2 && out[0] == '\\' && out[1] == 'b' && !is_quantifier(out[2])) {
    out.erase(0, 2);
  }
  if (out.size() > 2 && out.back() == 'b') {
    std::size_t slashes = 0;
    for (std::size_t i = out.size() - 1; i > 0 && out[i - 1] == '\\'; --i) ++slashes;
    if (slashes % 2 == 1) out.erase(out.size() - 2);
  }
  return out;
}

unsigned regex_flags(const Rule& rule) {
  unsigned flags = HS_FLAG_UTF8;
  if (rule.caseless) flags |= HS_FLAG_CASELESS;
  if (rule.dotall) flags |= HS_FLAG_DOTALL;
  if (rule.multiline) flags |= HS_FLAG_MULTILINE;
  if (rule.ucp) flags |= HS_FLAG_UCP;
  return flags;
}

[[noreturn]] void throw_compile_error(const Rule& rule, hs_compile_error_t* error) {
  std::string message = error != nullptr && error->message != nullptr ? error->message : "unknown";
  hs_free_compile_error(error);
  if (message.find("empty buffer") != std::string::npos) {
    throw RuleError(rule.id, "pattern matches the empty string");
  }
  if (message.find("unsupported") != std::string::npos ||
      message.find("not supported") != std::string::npos) {
    throw RuleError(rule.id, "unsupported construct: " + message +
                                 " (Hyperscan supports neither backreferences nor lookaround)");
  }
  if (message.find("too large") != std::string::npos) {
    throw RuleError(rule.id, "pattern does not compile: " + message +
                                 " (exact spans need start-of-match tracking, which Hyperscan "
                                 "cannot do for large Unicode classes such as \\w with ucp)");
  }
  throw RuleError(rule.id, "pattern does not compile: " + message);
}

// Error from a multi-pattern compile: blame the rule Hyperscan names.
[[noreturn]] void throw_multi_error(const std::vector<Rule>& rules,
                                    const std::vector<std::uint32_t>& members,
                                    hs_compile_error_t* error) {
  const int index = error != nullptr ? error->expression : -1;
  if (index >= 0 && static_cast<std::size_t>(index) < members.size()) {
    throw_compile_error(rules[members[index]], error);
  }
  std::string message = error != nullptr && error->message != nullptr ? error->message : "unknown";
  hs_free_compile_error(error);
  throw RuleError("", "rule set does not compile: " + message);
}

void validate_identity(const std::vector<Rule>& rules) {
  if (rules.empty()) throw RuleError("", "a Scanner needs at least one rule");
  std::unordered_set<std::string> seen;
  for (const Rule& rule : rules) {
    if (rule.id.empty()) throw RuleError("", "rule ids must be non-empty");
    if (!seen.insert(rule.id).second) throw RuleError(rule.id, "duplicate rule id");
    if (rule.pattern.empty()) throw RuleError(rule.id, "empty pattern");
    if (!utf8::is_ascii(rule.requires_any)) {
      throw RuleError(rule.id, "requires_any takes ASCII characters only");
    }
    if (!rule.literal && rule.pattern.find('\0') != std::string::npos) {
      throw RuleError(rule.id, "NUL character in a regex pattern; write it as \\x00");
    }
  }
  if (rules.size() > 0xFFFFFFFEu) throw RuleError("", "too many rules");
}

std::uint64_t regex_max_width(const Rule& rule) {
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* error = nullptr;
  const std::string source = regex_source(rule);
  if (hs_expression_info(source.c_str(), regex_flags(rule), &info, &error) != HS_SUCCESS) {
    throw_compile_error(rule, error);
  }
  const unsigned min_width = info->min_width;
  const unsigned max_width = info->max_width;
  std::free(info);  // allocated by Hyperscan's default misc allocator
  if (min_width == 0) throw RuleError(rule.id, "pattern matches the empty string");
  return max_width == UINT_MAX ? kUnbounded : max_width;
}

Database compile_literals(const std::vector<Rule>& rules, const std::vector<std::uint32_t>& members,
                          unsigned mode) {
  if (members.empty()) return nullptr;
  std::vector<const char*> patterns;
  std::vector<std::size_t> lengths;
  std::vector<unsigned> flags;
  for (std::uint32_t index : members) {
    patterns.push_back(rules[index].pattern.data());
    lengths.push_back(rules[index].pattern.size());
    flags.push_back(rules[index].caseless ? HS_FLAG_CASELESS : 0);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile_lit_multi(patterns.data(), flags.data(), members.data(), lengths.data(),
                           static_cast<unsigned>(members.size()), mode, nullptr, &db,
                           &error) != HS_SUCCESS) {
    throw_multi_error(rules, members, error);
  }
  return Database(db);
}

bool usable_for_detection(const std::string& source, unsigned flags) {
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_expression_info(source.c_str(), flags, &info, &error) != HS_SUCCESS) {
    hs_free_compile_error(error);
    return false;
  }
  const bool usable = info->min_width > 0;
  std::free(info);
  return usable;
}

std::string detection_source(const Rule& rule) {
  std::string exact = regex_source(rule);
  if (rule.literal) return exact;
  std::string relaxed = relaxed_for_detection(exact);
  return relaxed != exact && usable_for_detection(relaxed, regex_flags(rule)) ? relaxed : exact;
}

enum class Purpose { Detection, Spans };

Database compile_regexes(const std::vector<Rule>& rules, const std::vector<std::uint32_t>& members,
                         unsigned extra_flags, unsigned mode, Purpose purpose = Purpose::Spans) {
  if (members.empty()) return nullptr;
  std::vector<std::string> sources;
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  for (std::uint32_t index : members) {
    sources.push_back(purpose == Purpose::Detection ? detection_source(rules[index])
                                                    : regex_source(rules[index]));
  }
  for (std::size_t i = 0; i < members.size(); ++i) {
    patterns.push_back(sources[i].c_str());
    flags.push_back(regex_flags(rules[members[i]]) | extra_flags);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile_multi(patterns.data(), flags.data(), members.data(),
                       static_cast<unsigned>(members.size()), mode, nullptr, &db,
                       &error) != HS_SUCCESS) {
    throw_multi_error(rules, members, error);
  }
  return Database(db);
}

// A bounded regex rule with a requires_any set joins the group of that set;
// every other regex rule is detected over the whole text.
void place_for_detection(const Rule& rule, std::uint32_t index, RulePlan& plan) {
  AsciiSet set;
  try {
    set = AsciiSet(rule.requires_any, rule.caseless);
  } catch (const std::invalid_argument& error) {
    throw RuleError(rule.id, error.what());
  }
  if (set.empty() || plan.max_width[index] == kUnbounded) {
    plan.whole_text_rules.push_back(index);
    return;
  }
  for (std::uint32_t g = 0; g < plan.anchor_groups.size(); ++g) {
    if (plan.anchor_groups[g].set == set) {
      plan.anchor_groups[g].rules.push_back(index);
      plan.anchor_group[index] = g;
      return;
    }
  }
  plan.anchor_group[index] = static_cast<std::uint32_t>(plan.anchor_groups.size());
  plan.anchor_groups.push_back({set, 0, {index}});
}

}  // namespace

std::vector<const hs_database_t*> CompiledDatabases::slots() const {
  std::vector<const hs_database_t*> out = {literal_block.get(), regex_fast_block.get(),
                                           literal_stream.get(), regex_stream.get()};
  for (const auto& db : anchored_fast_block) out.push_back(db.get());
  for (const auto& db : regex_som_block) out.push_back(db.get());
  return out;
}

CompiledDatabases CompiledDatabases::from_slots(std::vector<Database> slots, const RulePlan& plan) {
  CompiledDatabases dbs;
  dbs.literal_block = std::move(slots[0]);
  dbs.regex_fast_block = std::move(slots[1]);
  dbs.literal_stream = std::move(slots[2]);
  dbs.regex_stream = std::move(slots[3]);
  const std::size_t som_from = 4 + plan.anchor_groups.size();
  for (std::size_t i = 4; i < som_from; ++i) dbs.anchored_fast_block.push_back(std::move(slots[i]));
  for (std::size_t i = som_from; i < slots.size(); ++i) {
    dbs.regex_som_block.push_back(std::move(slots[i]));
  }
  return dbs;
}

RulePlan plan_rules(const std::vector<Rule>& rules) {
  validate_identity(rules);
  RulePlan plan;
  plan.max_width.resize(rules.size());
  plan.regex_slot.assign(rules.size(), UINT32_MAX);
  plan.anchor_group.assign(rules.size(), kNoGroup);
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const Rule& rule = rules[i];
    if (compiles_as_literal(rule)) {
      plan.literal_rules.push_back(i);
      plan.max_width[i] = rule.pattern.size();
    } else {
      plan.regex_slot[i] = static_cast<std::uint32_t>(plan.regex_rules.size());
      plan.regex_rules.push_back(i);
      plan.max_width[i] = regex_max_width(rule);
      place_for_detection(rule, i, plan);
    }
  }
  for (AnchorGroup& group : plan.anchor_groups) {
    for (std::uint32_t index : group.rules) {
      group.radius = std::max(group.radius, plan.max_width[index] + 1);
    }
  }
  return plan;
}

CompiledDatabases compile_databases(const std::vector<Rule>& rules, const RulePlan& plan) {
  CompiledDatabases dbs;
  dbs.literal_block = compile_literals(rules, plan.literal_rules, HS_MODE_BLOCK);
  dbs.literal_stream = compile_literals(rules, plan.literal_rules, HS_MODE_STREAM);
  // Detection reports every end (no HS_FLAG_SINGLEMATCH): spans are then
  // computed only around them.
  dbs.regex_fast_block =
      compile_regexes(rules, plan.whole_text_rules, 0, HS_MODE_BLOCK, Purpose::Detection);
  for (const AnchorGroup& group : plan.anchor_groups) {
    dbs.anchored_fast_block.push_back(
        compile_regexes(rules, group.rules, 0, HS_MODE_BLOCK, Purpose::Detection));
  }
  dbs.regex_stream = compile_regexes(rules, plan.regex_rules, HS_FLAG_SOM_LEFTMOST,
                                     HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE);
  for (std::uint32_t index : plan.regex_rules) {
    dbs.regex_som_block.push_back(
        compile_regexes(rules, {index}, HS_FLAG_SOM_LEFTMOST, HS_MODE_BLOCK));
  }
  return dbs;
}

Sha256::Digest rule_set_key(const std::vector<Rule>& rules) {
  Sha256 hasher;
  hasher.update_field(kCacheFormat);
  hasher.update_field(hs_version());
  hs_platform_info_t platform{};
  if (hs_populate_platform(&platform) == HS_SUCCESS) {
    hasher.update(&platform.tune, sizeof platform.tune);
    hasher.update(&platform.cpu_features, sizeof platform.cpu_features);
  }
  for (const Rule& rule : rules) {
    hasher.update_field(rule.id);
    hasher.update_field(rule.pattern);
    const std::uint8_t flags[] = {rule.literal, rule.caseless, rule.dotall, rule.multiline,
                                  rule.ucp};
    hasher.update(flags, sizeof flags);
    hasher.update_field(rule.requires_any);
  }
  return hasher.finish();
}

}  // namespace llmward
