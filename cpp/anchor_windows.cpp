#include "llmward/anchor_windows.hpp"

#include <algorithm>
#include <stdexcept>

#if defined(__SSSE3__) || defined(__x86_64__)
#include <tmmintrin.h>
#define LLMWARD_SHUFFLE_SETS 1
#endif

namespace llmward {
namespace {

// Scanning windows costs a call each; past this share of the text, one scan
// of the whole text is cheaper.
constexpr std::size_t kWholeTextPercent = 60;

#if LLMWARD_SHUFFLE_SETS
// Adds a window for every member byte of t[0, n - n % 16); returns where the
// scalar tail starts. One function with the loop inside keeps the tables in
// registers (the target attribute stops it from being inlined). Hyperscan
// already requires SSSE3 (checked at import), so the shuffle is available.
__attribute__((target("ssse3"))) std::size_t add_members(const unsigned char* t, std::size_t n,
                                                          const std::array<std::uint8_t, 16>& low,
                                                          WindowBuilder& windows) {
  const __m128i nibble = _mm_set1_epi8(0x0F);
  const __m128i low_table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(low.data()));
  // High nibble h selects bit h (0-7); bytes >= 0x80 select nothing.
  const __m128i high_table = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, static_cast<char>(128), 0, 0, 0,
                                           0, 0, 0, 0, 0);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + i));
    const __m128i lo = _mm_shuffle_epi8(low_table, _mm_and_si128(v, nibble));
    const __m128i hi = _mm_shuffle_epi8(high_table, _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
    const __m128i none = _mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128());
    unsigned mask = ~static_cast<unsigned>(_mm_movemask_epi8(none)) & 0xFFFFu;
    while (mask != 0) {
      windows.add(i + static_cast<std::size_t>(__builtin_ctz(mask)));
      mask &= mask - 1;
    }
  }
  return i;
}
#endif

}  // namespace

AsciiSet::AsciiSet(std::string_view members, bool caseless) {
  auto add = [this](unsigned char c) {
    low_[c & 15] = static_cast<std::uint8_t>(low_[c & 15] | (1u << (c >> 4)));
    bits_ |= 1u << (c >> 4);
  };
  for (const char ch : members) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) throw std::invalid_argument("requires_any takes ASCII characters only");
    add(c);
    if (caseless && c >= 'a' && c <= 'z') add(static_cast<unsigned char>(c - 32));
    if (caseless && c >= 'A' && c <= 'Z') add(static_cast<unsigned char>(c + 32));
  }
}

void WindowBuilder::add(std::size_t p) {
  add_range(p > radius_ ? p - radius_ : 0,
            static_cast<std::size_t>(std::min<std::uint64_t>(text_.size(), p + radius_ + 1)));
}

void WindowBuilder::add_range(std::size_t begin, std::size_t end) {
  const std::size_t size = text_.size();
  end = std::min(end, size);
  auto continuation = [this](std::size_t i) {
    return (static_cast<unsigned char>(text_[i]) & 0xC0) == 0x80;
  };
  while (begin > 0 && continuation(begin)) --begin;
  while (end < size && continuation(end)) ++end;
  if (!out_.empty() && begin <= out_.back().end) {
    out_.back().end = std::max(out_.back().end, end);
  } else {
    out_.push_back({begin, end});
  }
}

std::vector<Window> WindowBuilder::finish() && {
  std::size_t covered = 0;
  for (const Window& w : out_) covered += w.end - w.begin;
  if (covered * 100 >= text_.size() * kWholeTextPercent && out_.size() > 1) {
    return {{0, text_.size()}};
  }
  return std::move(out_);
}

std::vector<Window> anchor_windows(std::string_view text, const AsciiSet& set, std::uint64_t radius) {
  const auto* t = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  WindowBuilder windows(text, radius);
  std::size_t i = 0;
#if LLMWARD_SHUFFLE_SETS
  i = add_members(t, n, set.low(), windows);
#endif
  for (; i < n; ++i) {
    if (set.contains(t[i])) windows.add(i);
  }
  return std::move(windows).finish();
}

}  // namespace llmward
