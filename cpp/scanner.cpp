#include "llmward/scanner.hpp"

#include <algorithm>
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

// Rules the detection pass saw fire, with where their matches end: exact
// spans are then computed only around those ends. A rule ending in more
// places than kMaxEnds is looked at over the whole text instead, which
// bounds the memory a hostile text can make a scan use.
class FiredRules {
 public:
  static constexpr std::size_t kMaxEnds = 32;

  struct Fired {
    std::uint32_t rule;
    bool whole_text;
    std::vector<std::uint64_t> ends;
  };

  void add(std::uint32_t rule, std::uint64_t end) {
    Fired* fired = nullptr;
    for (Fired& f : rules_) {  // few rules fire in one text
      if (f.rule == rule) fired = &f;
    }
    if (fired == nullptr) fired = &rules_.emplace_back(Fired{rule, false, {}});
    if (fired->whole_text) return;
    if (fired->ends.size() == kMaxEnds) {
      fired->whole_text = true;
      fired->ends.clear();
      return;
    }
    fired->ends.push_back(end);
  }

  std::vector<Fired>& rules() noexcept { return rules_; }

 private:
  std::vector<Fired> rules_;
};

struct FiredContext {
  FiredRules* fired;
  std::uint64_t offset;  // of the scanned window in the text
};

int on_fired(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  auto* c = static_cast<FiredContext*>(ctx);
  c->fired->add(id, c->offset + to);
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

// Windows [end - width - 1, end + 1) around the ends where a rule of at most
// `width` bytes was seen: each holds the whole match ending there plus the
// byte on either side that \b reads, clear of the window's cut edges.
std::vector<Window> windows_before(std::string_view text, std::vector<std::uint64_t>& ends,
                                   std::uint64_t width) {
  std::sort(ends.begin(), ends.end());
  WindowBuilder windows(text, 0);
  for (std::uint64_t end : ends) {
    const std::uint64_t begin = end > width + 1 ? end - width - 1 : 0;
    windows.add_range(static_cast<std::size_t>(begin), static_cast<std::size_t>(end + 1));
  }
  return std::move(windows).finish();
}

// Exact spans of one rule, window by window (windows that hold every match
// with a byte of context on each side).
void scan_rule_in_windows(const hs_database_t* som, std::string_view text,
                          const std::vector<Window>& windows, hs_scratch_t* scratch,
                          std::vector<RawMatch>& out) {
  std::vector<RawMatch> found;
  RawMatch moved{};
  for (const Window& w : windows) {
    found.clear();
    check(hs_scan(som, text.data() + w.begin, static_cast<unsigned>(w.end - w.begin), 0, scratch,
                  on_span, &found));
    for (const RawMatch& m : found) {
      if (from_window(m, w, text.size(), moved)) out.push_back(moved);
    }
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
  for (auto width : plan_.max_width) widest_ = std::max(widest_, width);
}

void Scanner::load_or_compile(const std::string& cache_directory) {
  if (cache_directory.empty()) {
    dbs_ = compile_databases(rules_, plan_);
    return;
  }
  const auto key = rule_set_key(rules_);
  auto loaded = db_cache::load(cache_directory, key, CompiledDatabases::slot_count(plan_));
  if (loaded.databases) {
    dbs_ = CompiledDatabases::from_slots(std::move(*loaded.databases), plan_);
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
  // Most texts fire nothing: spans are computed only for rules that fired,
  // and only around where their matches end.
  FiredRules fired;
  if (dbs_.regex_fast_block) {
    FiredContext ctx{&fired, 0};
    check(hs_scan(dbs_.regex_fast_block.get(), utf8.data(), length, 0, lease.get(), on_fired, &ctx));
  }
  // Rules with a requires_any set are looked for only around its characters.
  for (std::size_t g = 0; g < plan_.anchor_groups.size(); ++g) {
    const AnchorGroup& group = plan_.anchor_groups[g];
    for (const Window& w : anchor_windows(utf8, group.set, group.radius)) {
      FiredContext ctx{&fired, w.begin};
      check(hs_scan(dbs_.anchored_fast_block[g].get(), utf8.data() + w.begin,
                    static_cast<unsigned>(w.end - w.begin), 0, lease.get(), on_fired, &ctx));
    }
  }
  for (FiredRules::Fired& f : fired.rules()) {
    const hs_database_t* som = dbs_.regex_som_block[plan_.regex_slot[f.rule]].get();
    const std::uint64_t width = plan_.max_width[f.rule];
    if (f.whole_text || width == kUnbounded) {
      check(hs_scan(som, utf8.data(), length, 0, lease.get(), on_span, &out));
    } else {
      scan_rule_in_windows(som, utf8, windows_before(utf8, f.ends, width), lease.get(), out);
    }
  }
  normalize_matches(out);
  return out;
}

std::vector<RawMatch> Scanner::scan_windows(std::string_view utf8,
                                            const std::vector<Window>& windows) const {
  std::vector<RawMatch> out;
  RawMatch moved{};
  for (const Window& w : windows) {
    for (const RawMatch& m : scan(utf8.substr(w.begin, w.end - w.begin))) {
      if (from_window(m, w, utf8.size(), moved)) out.push_back(moved);
    }
  }
  normalize_matches(out);
  return out;
}

}  // namespace llmward
