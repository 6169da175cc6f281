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

#include "llmward/hs_handles.hpp"
#include "llmward/rule.hpp"
#include "llmward/sha256.hpp"

namespace llmward {

struct RulePlan {
  std::vector<std::uint32_t> literal_rules;  // rule indices compiled as literals
  std::vector<std::uint32_t> regex_rules;    // rule indices compiled as regexes
  std::vector<std::uint64_t> max_width;      // per rule, bytes; kUnbounded if unbounded
  std::vector<std::uint32_t> regex_slot;     // per rule, its position in regex_rules
};

struct CompiledDatabases {
  Database literal_block;
  Database regex_fast_block;
  Database literal_stream;
  Database regex_stream;
  std::vector<Database> regex_som_block;  // parallel to RulePlan::regex_rules

  // Fixed slot order for the disk cache.
  std::vector<const hs_database_t*> slots() const;
  static CompiledDatabases from_slots(std::vector<Database> slots);
  static std::size_t slot_count(const RulePlan& plan) { return 4 + plan.regex_rules.size(); }
};

// Validates every rule (throws RuleError naming the rule) and decides where
// each one is compiled.
RulePlan plan_rules(const std::vector<Rule>& rules);

CompiledDatabases compile_databases(const std::vector<Rule>& rules, const RulePlan& plan);

// Identifies the rule set, the Hyperscan version and the CPU it compiles for.
Sha256::Digest rule_set_key(const std::vector<Rule>& rules);

}  // namespace llmward
