#include "llmward/sanitize.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "llmward/utf8.hpp"

namespace llmward::sanitize {
namespace {

constexpr std::size_t kMaxTagInner = 1023;  // characters between '<' + first and '>'

bool is_control(char32_t c) noexcept {
  return c <= 0x08 || (c >= 0x0E && c <= 0x1F) || (c >= 0x7F && c <= 0x84) ||
         (c >= 0x86 && c <= 0x9F);
}

// Python's str.isspace().
bool is_space(char32_t c) noexcept {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// A byte at which a change may start: ASCII controls and DEL, '<', the lead
// bytes of C1 controls and Unicode spaces (C2, E1-E3), and two spaces in a
// row. A single space followed by other whitespace is found at that other
// character (a control or one of those lead bytes) and widened by one.
inline bool candidate(unsigned char b, unsigned char next) noexcept {
  return b < 0x20 || b == 0x7F || b == '<' || b == 0xC2 || (b >= 0xE1 && b <= 0xE3) ||
         (b == ' ' && next == ' ');
}

#if defined(__SSE2__)
// Bit k set when byte k of the 16 at p is a candidate (p[16] is read).
inline unsigned candidate_mask(const unsigned char* p) noexcept {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
  const __m128i space = _mm_set1_epi8(' ');
  // Signed compares: ASCII bytes are non-negative, so this is 0x00-0x1F.
  __m128i hit = _mm_and_si128(_mm_cmplt_epi8(v, space), _mm_cmpgt_epi8(v, _mm_set1_epi8(-1)));
  hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
  hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8('<')));
  hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(0xC2))));
  // 0xE1-0xE3: v - 0xE1 (wrapping) is 0, 1 or 2.
  const __m128i e = _mm_sub_epi8(v, _mm_set1_epi8(static_cast<char>(0xE1)));
  hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(e, _mm_set1_epi8(2)), e));
  hit = _mm_or_si128(hit, _mm_and_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(next, space)));
  return static_cast<unsigned>(_mm_movemask_epi8(hit));
}
#endif

// The first candidate at or after i (n when there is none): prose has none,
// so whole blocks are tested at once.
std::size_t next_candidate(const unsigned char* t, std::size_t i, std::size_t n) noexcept {
#if defined(__SSE2__)
  constexpr std::size_t kBlock = 16;
  while (i + kBlock < n) {  // t[i + kBlock] is the last `next` read
    if (const unsigned mask = candidate_mask(t + i)) {
      return i + static_cast<std::size_t>(__builtin_ctz(mask));
    }
    i += kBlock;
  }
#endif
  for (; i < n; ++i) {
    if (candidate(t[i], i + 1 < n ? t[i + 1] : 0)) return i;
  }
  return n;
}

class Builder {
 public:
  explicit Builder(std::string_view in) : in_(in) {}

  void copy(std::size_t from, std::size_t to) {
    if (to <= from) return;
    Piece* last = out_.pieces.empty() ? nullptr : &out_.pieces.back();
    if (last != nullptr && !last->replaced && last->in_end == from) {
      last->in_end = static_cast<std::uint32_t>(to);
    } else {
      out_.pieces.push_back({static_cast<std::uint32_t>(out_.text.size()),
                             static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(to),
                             false});
    }
    out_.text.append(in_.data() + from, to - from);
  }
  void replace_with_space(std::size_t from, std::size_t to) {
    out_.changed = true;
    out_.pieces.push_back({static_cast<std::uint32_t>(out_.text.size()),
                           static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(to), true});
    out_.text.push_back(' ');
  }
  void remove() { out_.changed = out_.removed = true; }

  Sanitized finish() && { return std::move(out_); }

 private:
  std::string_view in_;
  Sanitized out_;
};

// End of a tag starting with the '<' at i, or 0 when there is none.
std::size_t tag_end(const unsigned char* t, std::size_t i, std::size_t n) noexcept {
  std::size_t length = 0;
  if (i + 1 >= n) return 0;
  const char32_t first = utf8::next(t + i + 1, t + n, length);
  if (first == '<' || first == '>' || is_space(first)) return 0;
  std::size_t characters = 0;
  for (std::size_t k = i + 1 + length; k < n; ++k) {
    const unsigned char b = t[k];
    if (b == '>') return k + 1;
    if (b == '<') return 0;
    if ((b & 0xC0) != 0x80 && ++characters > kMaxTagInner) return 0;
  }
  return 0;
}

// End of the run of characters satisfying `keep` that starts at i.
template <typename Predicate>
std::size_t run_end(const unsigned char* t, std::size_t i, std::size_t n, Predicate keep,
                    std::size_t& count) noexcept {
  count = 0;
  std::size_t length = 0;
  while (i < n && keep(utf8::next(t + i, t + n, length))) {
    i += length;
    ++count;
  }
  return i;
}

// Drops leading and trailing spaces, shifting the pieces.
void strip(Sanitized& s) {
  const std::string& text = s.text;
  const std::size_t lead = text.find_first_not_of(' ');
  if (lead == std::string::npos) {
    s.text.clear();
    s.pieces.clear();
    return;
  }
  const std::size_t end = text.find_last_not_of(' ') + 1;
  if (lead == 0 && end == text.size()) return;
  std::vector<Piece> kept;
  for (std::size_t p = 0; p < s.pieces.size(); ++p) {
    const Piece& piece = s.pieces[p];
    const std::size_t piece_end = p + 1 < s.pieces.size() ? s.pieces[p + 1].out : text.size();
    const std::size_t from = std::max<std::size_t>(piece.out, lead);
    const std::size_t to = std::min(piece_end, end);
    if (from >= to) continue;
    Piece clipped = piece;
    clipped.out = static_cast<std::uint32_t>(from - lead);
    if (!piece.replaced) {
      clipped.in = static_cast<std::uint32_t>(piece.in + (from - piece.out));
      clipped.in_end = static_cast<std::uint32_t>(piece.in + (to - piece.out));
    }
    kept.push_back(clipped);
  }
  s.text = s.text.substr(lead, end - lead);
  s.pieces = std::move(kept);
}

}  // namespace

Sanitized sanitize(std::string_view utf8) {
  if (utf8.size() >= std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("text too long to sanitize (4 GiB or more)");
  }
  const auto* t = reinterpret_cast<const unsigned char*>(utf8.data());
  const std::size_t n = utf8.size();
  Builder out(utf8);
  bool changed = false;
  std::size_t copied = 0;  // original text before this has been handled
  std::size_t i = 0;
  while ((i = next_candidate(t, i, n)) < n) {
    std::size_t length = 0;
    const char32_t c = utf8::next(t + i, t + n, length);
    std::size_t end = 0;
    std::size_t count = 0;
    // U+001C-001F are both: a run that a space opens is whitespace.
    const bool space_before = i > copied && t[i - 1] == ' ';
    if (c == '<' && (end = tag_end(t, i, n)) != 0) {
      out.copy(copied, i);
      out.remove();
    } else if (is_control(c) && !(space_before && is_space(c))) {
      end = run_end(t, i, n, is_control, count);
      out.copy(copied, i);
      out.remove();
    } else if (is_space(c)) {
      const std::size_t start = space_before ? i - 1 : i;  // "a \n b": the run starts at ' '
      end = run_end(t, start, n, is_space, count);
      if (count == 1 && c == ' ') {  // a lone space: nothing to change
        i = end;
        continue;
      }
      out.copy(copied, start);
      out.replace_with_space(start, end);
    } else {
      i += length;  // '<' that opens no tag, or an ordinary non-ASCII letter
      continue;
    }
    changed = true;
    copied = i = end;
  }
  if (!changed && (n == 0 || (t[0] != ' ' && t[n - 1] != ' '))) return Sanitized{};
  out.copy(copied, n);
  Sanitized result = std::move(out).finish();
  result.changed = true;
  strip(result);
  return result;
}

std::uint64_t Sanitized::start_in_original(std::uint64_t offset) const noexcept {
  if (pieces.empty()) return changed ? 0 : offset;
  auto it = std::upper_bound(pieces.begin(), pieces.end(), offset,
                             [](std::uint64_t o, const Piece& p) { return o < p.out; });
  if (it == pieces.begin()) return pieces.front().in;
  const Piece& p = *(it - 1);
  return p.replaced ? p.in : p.in + (offset - p.out);
}

std::uint64_t Sanitized::end_in_original(std::uint64_t offset) const noexcept {
  if (pieces.empty()) return changed ? 0 : offset;
  if (offset == 0) return start_in_original(0);
  auto it = std::upper_bound(pieces.begin(), pieces.end(), offset - 1,
                             [](std::uint64_t o, const Piece& p) { return o < p.out; });
  const Piece& p = *(it - 1);
  return p.replaced ? p.in_end : p.in + (offset - p.out);
}

void pieces_to_code_points(Sanitized& s, std::string_view original) {
  auto convert = [](std::string_view text, auto&& slots) {
    const auto* t = reinterpret_cast<const unsigned char*>(text.data());
    std::uint64_t byte = 0;
    std::uint32_t code_points = 0;
    slots([&](std::uint32_t& slot) {  // slots arrive in non-decreasing order
      for (; byte < slot; ++byte) code_points += (t[byte] & 0xC0) != 0x80;
      slot = code_points;
    });
  };
  convert(s.text, [&](auto&& visit) {
    for (Piece& p : s.pieces) visit(p.out);
  });
  convert(original, [&](auto&& visit) {
    for (Piece& p : s.pieces) {
      visit(p.in);
      visit(p.in_end);
    }
  });
}

}  // namespace llmward::sanitize
