// Error types of the native core; the bindings map each to a Python exception.
#pragma once

#include <stdexcept>
#include <string>

namespace llmward {

// A rule set that cannot become a scanner: the message names the rule id.
class RuleError : public std::invalid_argument {
 public:
  RuleError(std::string rule_id, const std::string& reason)
      : std::invalid_argument(rule_id.empty() ? reason : "rule '" + rule_id + "': " + reason),
        rule_id_(std::move(rule_id)) {}
  const std::string& rule_id() const noexcept { return rule_id_; }

 private:
  std::string rule_id_;
};

// Hyperscan refused an operation at run time (out of memory, bad database).
class ScanError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace llmward
