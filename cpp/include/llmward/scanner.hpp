// The multi-pattern scanner: one compiled rule set, scanned from any number
// of threads at once (each scan leases its own Hyperscan scratch).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llmward/anchor_windows.hpp"
#include "llmward/db_cache.hpp"
#include "llmward/hs_handles.hpp"
#include "llmward/rule.hpp"
#include "llmward/rule_compiler.hpp"
#include "llmward/scan_match.hpp"

namespace llmward {

class Scanner {
 public:
  // Compiles the rules, or loads them from `cache_directory` (empty: no cache).
  Scanner(std::vector<Rule> rules, const std::string& cache_directory);

  const std::vector<Rule>& rules() const noexcept { return rules_; }
  // Longest possible match of a rule in bytes, or kUnbounded.
  std::uint64_t max_width(std::uint32_t rule) const noexcept { return plan_.max_width[rule]; }
  bool has_unbounded_rule() const noexcept;
  // Longest possible match of any rule in bytes, or kUnbounded.
  std::uint64_t widest() const noexcept { return widest_; }
  db_cache::Status cache_status() const noexcept { return cache_status_; }

  // Scans valid UTF-8. Returns normalized matches with byte offsets.
  std::vector<RawMatch> scan(std::string_view utf8) const;

  // The matches of scan(utf8) that lie inside the windows and touch no cut
  // edge of one (an edge that is not an end of the text), with offsets into
  // utf8. With windows reaching widest() + 4 bytes beyond a region, this is
  // every match that overlaps the region or reads a byte of it as context.
  std::vector<RawMatch> scan_windows(std::string_view utf8, const std::vector<Window>& windows) const;

  const hs_database_t* literal_stream_database() const noexcept {
    return dbs_.literal_stream.get();
  }
  const hs_database_t* regex_stream_database() const noexcept { return dbs_.regex_stream.get(); }
  ScratchPool& scratch_pool() const noexcept { return scratch_; }

 private:
  void load_or_compile(const std::string& cache_directory);

  std::vector<Rule> rules_;
  RulePlan plan_;
  CompiledDatabases dbs_;
  mutable ScratchPool scratch_;
  std::uint64_t widest_ = 0;
  db_cache::Status cache_status_ = db_cache::Status::Disabled;
};

// Hyperscan scans at most 4 GiB per call; larger inputs are refused.
void check_scan_length(std::size_t length);

}  // namespace llmward
