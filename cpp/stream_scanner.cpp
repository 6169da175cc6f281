#include "llmward/stream_scanner.hpp"

#include <algorithm>
#include <utility>

#include "llmward/errors.hpp"
#include "llmward/utf8.hpp"

namespace llmward {
namespace {

struct StreamContext {
  const Scanner* scanner;
  std::vector<RawMatch>* out;
};

int on_stream_literal(unsigned id, unsigned long long, unsigned long long to, unsigned,
                      void* ctx) {
  auto* c = static_cast<StreamContext*>(ctx);
  c->out->push_back({id, to - c->scanner->max_width(id), to});
  return 0;
}

int on_stream_span(unsigned id, unsigned long long from, unsigned long long to, unsigned,
                   void* ctx) {
  static_cast<StreamContext*>(ctx)->out->push_back({id, from, to});
  return 0;
}

void check(hs_error_t err, const char* what) {
  if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
    throw ScanError(std::string("hyperscan: ") + what + " failed (error " + std::to_string(err) +
                    ")");
  }
}

hs_stream_t* open_stream(const hs_database_t* db) {
  if (db == nullptr) return nullptr;
  hs_stream_t* stream = nullptr;
  check(hs_open_stream(db, 0, &stream), "opening a stream");
  return stream;
}

}  // namespace

void StreamOffsetMap::append(std::string_view utf8) {
  if (utf8.empty()) return;
  Chunk chunk{bytes_, utf8.size(), code_points_, {}};
  const std::uint64_t count = utf8::count_code_points(utf8);
  if (count != utf8.size()) chunk.non_ascii.assign(utf8);
  chunks_.push_back(std::move(chunk));
  bytes_ += utf8.size();
  code_points_ += count;
}

std::uint64_t StreamOffsetMap::code_points_at(std::uint64_t byte_offset) const {
  if (byte_offset >= bytes_) return code_points_;
  auto it = std::upper_bound(
      chunks_.begin() + static_cast<std::ptrdiff_t>(first_), chunks_.end(), byte_offset,
      [](std::uint64_t offset, const Chunk& c) { return offset < c.byte_start; });
  const Chunk& chunk = *(it - 1);
  const std::uint64_t within = byte_offset - chunk.byte_start;
  if (chunk.non_ascii.empty()) return chunk.code_point_start + within;
  return chunk.code_point_start +
         utf8::count_code_points(std::string_view(chunk.non_ascii.data(), within));
}

void StreamOffsetMap::forget_before(std::uint64_t byte_offset) {
  while (first_ + 1 < chunks_.size() &&
         chunks_[first_].byte_start + chunks_[first_].byte_length <= byte_offset) {
    chunks_[first_].non_ascii = std::string();
    ++first_;
  }
  if (first_ > 64 && first_ * 2 > chunks_.size()) {  // compact now and then
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(first_));
    first_ = 0;
  }
}

StreamScanner::StreamScanner(std::shared_ptr<const Scanner> scanner)
    : scanner_(std::move(scanner)) {
  for (std::uint32_t i = 0; i < scanner_->rules().size(); ++i) {
    widest_rule_ = std::max(widest_rule_, scanner_->max_width(i));
  }
  literal_stream_ = open_stream(scanner_->literal_stream_database());
  try {
    regex_stream_ = open_stream(scanner_->regex_stream_database());
  } catch (...) {
    if (literal_stream_) hs_close_stream(literal_stream_, nullptr, nullptr, nullptr);
    throw;
  }
}

StreamScanner::~StreamScanner() {
  if (literal_stream_) hs_close_stream(literal_stream_, nullptr, nullptr, nullptr);
  if (regex_stream_) hs_close_stream(regex_stream_, nullptr, nullptr, nullptr);
}

void StreamScanner::write(std::string_view chunk, hs_scratch_t* scratch) {
  StreamContext ctx{scanner_.get(), &incoming_};
  if (literal_stream_) {
    check(hs_scan_stream(literal_stream_, chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                         scratch, on_stream_literal, &ctx),
          "stream scan");
  }
  if (regex_stream_) {
    check(hs_scan_stream(regex_stream_, chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                         scratch, on_stream_span, &ctx),
          "stream scan");
  }
}

std::vector<RawMatch> StreamScanner::feed(std::string_view utf8) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) throw std::logic_error("feed() after close(): the stream has ended");
  if (utf8.empty()) return {};
  check_scan_length(utf8.size());
  offsets_.append(utf8);
  {
    auto lease = scanner_->scratch_pool().acquire();
    write(utf8, lease.get());
  }
  bytes_fed_ += utf8.size();
  return release(false);
}

std::vector<RawMatch> StreamScanner::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return {};
  closed_ = true;
  auto lease = scanner_->scratch_pool().acquire();
  StreamContext ctx{scanner_.get(), &incoming_};
  // End-of-data matches ('$', '\b' at the very end) are reported here.
  hs_stream_t* literal = std::exchange(literal_stream_, nullptr);
  hs_stream_t* regex = std::exchange(regex_stream_, nullptr);
  const hs_error_t literal_err =
      literal ? hs_close_stream(literal, lease.get(), on_stream_literal, &ctx) : HS_SUCCESS;
  const hs_error_t regex_err =
      regex ? hs_close_stream(regex, lease.get(), on_stream_span, &ctx) : HS_SUCCESS;
  check(literal_err, "closing a stream");
  check(regex_err, "closing a stream");
  return release(true);
}

bool StreamScanner::is_final(const RawMatch& m) const {
  const std::uint64_t width = scanner_->max_width(m.rule);
  return width != kUnbounded && m.start + width + kLookAhead < bytes_fed_;
}

std::vector<RawMatch> StreamScanner::release(bool at_close) {
  for (const RawMatch& m : incoming_) pending_.push_back({m, false});
  incoming_.clear();
  // Same containment rule as normalize_matches, keeping spans already released
  // so a duplicate of one of them is not released twice.
  std::sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
    if (a.match.rule != b.match.rule) return a.match.rule < b.match.rule;
    if (a.match.start != b.match.start) return a.match.start < b.match.start;
    if (a.match.end != b.match.end) return a.match.end > b.match.end;
    return a.emitted > b.emitted;
  });
  std::size_t kept = 0;
  std::uint64_t furthest_end = 0;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    const Pending& p = pending_[i];
    if (i == 0 || p.match.rule != pending_[i - 1].match.rule) {
      furthest_end = 0;
    }
    if (p.match.end > furthest_end) {
      furthest_end = p.match.end;
      pending_[kept++] = p;
    }
  }
  pending_.resize(kept);

  std::vector<RawMatch> ready;
  for (Pending& p : pending_) {
    if (!p.emitted && (at_close || is_final(p.match))) {
      p.emitted = true;
      ready.push_back(p.match);
    }
  }
  // A released span can only swallow reports that end at most kLookAhead
  // bytes back; older ones are dropped.
  std::uint64_t horizon = bytes_fed_ > kLookAhead ? bytes_fed_ - kLookAhead : 0;
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [&](const Pending& p) { return p.emitted && p.match.end < horizon; }),
                 pending_.end());

  std::sort(ready.begin(), ready.end(), result_order);
  for (RawMatch& m : ready) {
    m.start = offsets_.code_points_at(m.start);
    m.end = offsets_.code_points_at(m.end);
  }
  if (widest_rule_ != kUnbounded) {
    std::uint64_t keep_from = horizon > widest_rule_ ? horizon - widest_rule_ : 0;
    for (const Pending& p : pending_)
      if (!p.emitted) keep_from = std::min(keep_from, p.match.start);
    offsets_.forget_before(keep_from);
  }
  return ready;
}

}  // namespace llmward
