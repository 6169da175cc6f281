#include "llmward/scanner.hpp"

#include <climits>

#include "llmward/errors.hpp"

namespace llmward {
namespace {

struct LiteralContext {
  const std::vector<std::uint64_t>* widths;
  std::vector<RawMatch>* out;
};

int on_literal(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  auto* c = static_cast<LiteralContext*>(ctx);
  c->out->push_back({id, to - (*c->widths)[id], to});
  return 0;
}

int on_fired(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  static_cast<std::vector<std::uint32_t>*>(ctx)->push_back(id);
  return 0;
}

int on_span(unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) {
  static_cast<std::vector<RawMatch>*>(ctx)->push_back({id, from, to});
  return 0;
}

void check(hs_error_t err) {
  if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
    throw ScanError("hyperscan: scan failed (error " + std::to_string(err) + ")");
  }
}

}  // namespace

void check_scan_length(std::size_t length) {
  if (length > UINT_MAX) throw std::length_error("text too large to scan: 4 GiB at most per call");
}

Scanner::Scanner(std::vector<Rule> rules, const std::string& cache_directory)
    : rules_(std::move(rules)), plan_(plan_rules(rules_)) {
  load_or_compile(cache_directory);
  for (const hs_database_t* db : dbs_.slots()) scratch_.reserve_for(db);
}

void Scanner::load_or_compile(const std::string& cache_directory) {
  if (cache_directory.empty()) {
    dbs_ = compile_databases(rules_, plan_);
    return;
  }
  const auto key = rule_set_key(rules_);
  auto loaded = db_cache::load(cache_directory, key, CompiledDatabases::slot_count(plan_));
  if (loaded.databases) {
    dbs_ = CompiledDatabases::from_slots(std::move(*loaded.databases));
    cache_status_ = db_cache::Status::Hit;
    return;
  }
  dbs_ = compile_databases(rules_, plan_);
  if (loaded.insecure) {
    cache_status_ = db_cache::Status::Insecure;
  } else if (!db_cache::store(cache_directory, key, dbs_.slots())) {
    cache_status_ = db_cache::Status::WriteFailed;
  } else {
    cache_status_ = loaded.corrupt ? db_cache::Status::Rebuilt : db_cache::Status::Miss;
  }
}

bool Scanner::has_unbounded_rule() const noexcept {
  for (auto width : plan_.max_width)
    if (width == kUnbounded) return true;
  return false;
}

std::vector<RawMatch> Scanner::scan(std::string_view utf8) const {
  check_scan_length(utf8.size());
  std::vector<RawMatch> out;
  if (utf8.empty()) return out;  // nothing can match: every rule needs a character
  const auto length = static_cast<unsigned>(utf8.size());
  auto lease = scratch_.acquire();
  if (dbs_.literal_block) {
    LiteralContext ctx{&plan_.max_width, &out};
    check(hs_scan(dbs_.literal_block.get(), utf8.data(), length, 0, lease.get(), on_literal, &ctx));
  }
  if (dbs_.regex_fast_block) {
    // Most texts fire nothing: spans are computed only for rules that fired.
    std::vector<std::uint32_t> fired;
    check(hs_scan(dbs_.regex_fast_block.get(), utf8.data(), length, 0, lease.get(), on_fired,
                  &fired));
    for (std::uint32_t rule : fired) {
      check(hs_scan(dbs_.regex_som_block[plan_.regex_slot[rule]].get(), utf8.data(), length, 0, lease.get(),
                    on_span, &out));
    }
  }
  normalize_matches(out);
  return out;
}

}  // namespace llmward
