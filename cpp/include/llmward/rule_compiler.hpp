// Turns a validated rule list into the Hyperscan databases a Scanner needs.
//
// Literal rules go to a literal database (hs_compile_lit_multi): exact spans
// come for free as end - length. Regex rules get a fast database compiled
// with HS_FLAG_SINGLEMATCH and no start-of-match tracking, which decides which
// rules fired at all, plus one SOM database per rule, scanned only for rules
// that fired. Streams use their own stream-mode databases.
#pragma once

#include <cstdint>
#include <vector>

#include "llmward/anchor_windows.hpp"
#include "llmward/hs_handles.hpp"
#include "llmward/rule.hpp"
#include "llmward/sha256.hpp"

namespace llmward {

// Regex rules detected only around the bytes of one set (Rule::requires_any).
struct AnchorGroup {
  AsciiSet set;
  std::uint64_t radius = 0;  // widest rule of the group + 1 byte of context
  std::vector<std::uint32_t> rules;
};

inline constexpr std::uint32_t kNoGroup = UINT32_MAX;

struct RulePlan {
  std::vector<std::uint32_t> literal_rules;  // rule indices compiled as literals
  std::vector<std::uint32_t> regex_rules;    // rule indices compiled as regexes
  std::vector<std::uint32_t> whole_text_rules;  // regex rules detected over the whole text
  std::vector<AnchorGroup> anchor_groups;       // the other regex rules
  std::vector<std::uint64_t> max_width;      // per rule, bytes; kUnbounded if unbounded
  std::vector<std::uint32_t> regex_slot;     // per rule, its position in regex_rules
  std::vector<std::uint32_t> anchor_group;   // per rule, its AnchorGroup; kNoGroup if none
};

struct CompiledDatabases {
  Database literal_block;
  Database regex_fast_block;
  Database literal_stream;
  Database regex_stream;
  std::vector<Database> anchored_fast_block;  // parallel to RulePlan::anchor_groups
  std::vector<Database> regex_som_block;      // parallel to RulePlan::regex_rules

  // Fixed slot order for the disk cache.
  std::vector<const hs_database_t*> slots() const;
  static CompiledDatabases from_slots(std::vector<Database> slots, const RulePlan& plan);
  static std::size_t slot_count(const RulePlan& plan) {
    return 4 + plan.anchor_groups.size() + plan.regex_rules.size();
  }
};

// Validates every rule (throws RuleError naming the rule) and decides where
// each one is compiled.
RulePlan plan_rules(const std::vector<Rule>& rules);

CompiledDatabases compile_databases(const std::vector<Rule>& rules, const RulePlan& plan);

// Identifies the rule set, the Hyperscan version and the CPU it compiles for.
Sha256::Digest rule_set_key(const std::vector<Rule>& rules);

}  // namespace llmward
