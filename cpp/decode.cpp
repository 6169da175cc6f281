#include "llmward/decode.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <utility>
#include <vector>

#include "ascii_masks.hpp"
#include "char_class.hpp"
#include "llmward/fold.hpp"
#include "llmward/utf8.hpp"

namespace llmward::views {
namespace {

using ascii::cls;
using ascii::hex_value;

inline bool is_word_byte(unsigned char c) { return c > 0x20 && c < 0x7F; }
inline bool is_base64(unsigned char c) { return (cls(c) & ascii::kBase64) != 0; }
inline bool is_hex(unsigned char c) { return (cls(c) & ascii::kHex) != 0; }

// 6-bit value of a character of either base64 alphabet.
int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

Span span(std::size_t begin, std::size_t end) {
  return {static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end)};
}

// A decoding is kept only when it is text: valid UTF-8, no NUL, and at least
// 90% of its code points printable (tab, newline and carriage return count
// as printable; other C0 controls, DEL and C1 controls do not).
bool is_text(std::string_view bytes) {
  if (bytes.empty() || !utf8::is_valid(bytes)) return false;
  std::size_t total = 0;
  std::size_t unprintable = 0;
  const auto* t = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = t + bytes.size();
  std::size_t len = 0;
  for (const unsigned char* p = t; p < end; p += len) {
    const char32_t cp = ascii::decode(p, end, len);
    if (cp == 0) return false;
    ++total;
    if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F)) {
      ++unprintable;
    }
  }
  return unprintable * 10 <= total;
}

// A decoded span of the text: [begin, end) in the text it was found in, and
// the decoded bytes mapped to offsets of that text.
struct Piece {
  std::size_t begin;
  std::size_t end;
  MappedText decoded;
};

// Finds the encoded spans of one text, left to right, and decodes them.
class Finder {
 public:
  Finder(std::string_view text, std::size_t& budget, std::vector<Piece>& out)
      : t_(reinterpret_cast<const unsigned char*>(text.data())), n_(text.size()),
        budget_(budget), out_(out) {}

  void run() {
    std::size_t i = 0;
    while (budget_ > 0 && (i = next_candidate_word(i)) < n_) {
      std::size_t word_end = i;
      while (word_end < n_ && is_word_byte(t_[word_end])) ++word_end;
      if (percent_escapes(i, word_end) >= 2) {
        percent(i, word_end);
        i = word_end;
      } else {
        i = word(i, word_end);
      }
    }
  }

 private:
  // Start of the first word at or after i (i is not inside a word) that can
  // hold an encoded span: kMinEncodedRun characters or more, or a '%'. Prose
  // has none, so 16-byte blocks are skipped whole.
  std::size_t next_candidate_word(std::size_t i) const {
    const std::size_t from = i;
    std::size_t run_start = i;  // where the run of word bytes reaching i began
#if defined(__SSE2__)
    for (; i + 16 <= n_; i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t_ + i));
      const auto word = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(
          _mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmplt_epi8(v, _mm_set1_epi8(0x7F)))));
      const auto percent =
          static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('%'))));
      if (percent != 0) return word_start(i + static_cast<std::size_t>(__builtin_ctz(percent)), from);
      if (word == 0xFFFFu) return run_start;  // a run of 16 or more
      const auto leading = static_cast<std::size_t>(__builtin_ctz(~word));
      if (i + leading - run_start >= kMinEncodedRun) return run_start;
      // Runs inside the block are shorter than 16; the last one may go on.
      const auto trailing = static_cast<std::size_t>(__builtin_clz(~word << 16 | 0xFFFFu));
      run_start = i + 16 - trailing;
    }
#endif
    for (; i < n_; ++i) {
      if (!is_word_byte(t_[i])) {
        run_start = i + 1;
      } else if (t_[i] == '%') {
        return word_start(i, from);
      } else if (i + 1 - run_start >= kMinEncodedRun) {
        return run_start;
      }
    }
    return n_;
  }

  std::size_t word_start(std::size_t k, std::size_t from) const {
    while (k > from && is_word_byte(t_[k - 1])) --k;
    return k;
  }

  std::size_t percent_escapes(std::size_t begin, std::size_t end) const {
    std::size_t count = 0;
    for (std::size_t k = begin; k + 2 < end; ++k) {
      if (t_[k] == '%' && is_hex(t_[k + 1]) && is_hex(t_[k + 2])) {
        ++count;
        k += 2;
      }
    }
    return count;
  }

  // %XX escapes mixed with plain characters; '+' is a space (form encoding).
  void percent(std::size_t begin, std::size_t end) {
    MappedText d;
    for (std::size_t k = begin; k < end && !full(d);) {
      if (t_[k] == '%' && k + 2 < end && is_hex(t_[k + 1]) && is_hex(t_[k + 2])) {
        d.text.push_back(static_cast<char>(hex_value(t_[k + 1]) * 16 + hex_value(t_[k + 2])));
        d.map.push_back(span(k, k + 3));
        k += 3;
      } else {
        d.text.push_back(t_[k] == '+' ? ' ' : static_cast<char>(t_[k]));
        d.map.push_back(span(k, k + 1));
        ++k;
      }
    }
    keep(begin, end, std::move(d));
  }

  // Hex escapes (\xHH) and base64/hex runs inside one word. Returns where
  // scanning goes on (past the word, or past the lines a base64 block spans).
  std::size_t word(std::size_t begin, std::size_t end) {
    std::size_t k = begin;
    while (k < end) {
      if (is_escape(k, end)) {
        std::size_t m = k;
        while (is_escape(m, end)) m += 4;
        if ((m - k) / 2 >= kMinEncodedRun) {
          MappedText d;
          for (std::size_t e = k; e < m && !full(d); e += 4) {
            d.text.push_back(static_cast<char>(hex_value(t_[e + 2]) * 16 + hex_value(t_[e + 3])));
            d.map.push_back(span(e, e + 4));
          }
          keep(k, m, std::move(d));
        }
        k = m;
      } else if (is_base64(t_[k])) {
        std::size_t r = k;
        while (r < end && is_base64(t_[r])) ++r;
        std::size_t padded = r;
        while (padded < end && padded - r < 2 && t_[padded] == '=') ++padded;
        if (k == begin && r == end) return block(begin, end);  // the word is one run
        if (r - k >= kMinEncodedRun) encoded({{k, r}}, padded);
        k = padded;
      } else {
        ++k;
      }
    }
    return end;
  }

  bool is_escape(std::size_t k, std::size_t end) const {
    return k + 4 <= end && t_[k] == '\\' && (t_[k + 1] == 'x' || t_[k + 1] == 'X') &&
           is_hex(t_[k + 2]) && is_hex(t_[k + 3]);
  }

  // A word that is entirely base64 may continue on the next lines (wrapped
  // base64): lines whose length is a multiple of 4 are joined while the next
  // line is also one run. Returns where scanning goes on.
  std::size_t block(std::size_t begin, std::size_t end) {
    std::vector<std::pair<std::size_t, std::size_t>> lines{{begin, end}};
    std::size_t padded = end;
    std::size_t total = end - begin;
    std::size_t line_end = end;
    while (total % 4 == 0) {
      std::size_t next = line_end;
      if (next < n_ && t_[next] == '\r') ++next;
      if (next >= n_ || t_[next] != '\n') break;
      ++next;
      std::size_t r = next;
      while (r < n_ && is_base64(t_[r])) ++r;
      std::size_t p = r;
      while (p < n_ && p - r < 2 && t_[p] == '=') ++p;
      if (r == next || (p < n_ && t_[p] != '\n' && t_[p] != '\r')) break;  // not a whole line
      lines.emplace_back(next, r);
      total += r - next;
      padded = line_end = p;
      if (p > r) break;  // padding ends the block
    }
    if (lines.size() > 1 && padded == lines.back().second && total % 4 != 0) {
      // Wrapping encoders pad; an unpadded short last line is something else.
      total -= lines.back().second - lines.back().first;
      lines.pop_back();
      padded = lines.back().second;
    }
    if (lines.size() == 1) {
      if (total >= kMinEncodedRun) encoded(lines, end);
      return end;
    }
    if (total >= kMinEncodedRun && encoded(lines, padded)) return padded;
    // Not one block after all: each line on its own (each line once, so
    // scanning stays linear however many lines there are).
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto& line = lines[i];
      if (line.second - line.first >= kMinEncodedRun) {
        encoded({line}, i + 1 == lines.size() ? padded : line.second);
      }
    }
    return padded;
  }

  // Tries a run as hex, then as base64. `lines` are the runs of base64
  // characters (one unless the block is wrapped), `padded` the end of the
  // last one including its '=' padding.
  bool encoded(const std::vector<std::pair<std::size_t, std::size_t>>& lines, std::size_t padded) {
    const std::size_t begin = lines.front().first;
    if (lines.size() == 1 && padded == lines.front().second && hex(begin, padded)) return true;
    return base64(lines, padded);
  }

  // At least kMinEncodedRun hex digits, an even number, optionally after 0x.
  bool hex(std::size_t begin, std::size_t end) {
    std::size_t k = begin;
    if (end - k > 2 && t_[k] == '0' && (t_[k + 1] == 'x' || t_[k + 1] == 'X')) k += 2;
    if (end - k < kMinEncodedRun || (end - k) % 2 != 0) return false;
    for (std::size_t e = k; e < end; ++e)
      if (!is_hex(t_[e])) return false;
    MappedText d;
    for (std::size_t e = k; e < end && !full(d); e += 2) {
      d.text.push_back(static_cast<char>(hex_value(t_[e]) * 16 + hex_value(t_[e + 1])));
      d.map.push_back(span(e == k ? begin : e, e + 2));  // the 0x prefix goes with the first pair
    }
    return keep(begin, end, std::move(d));
  }

  bool base64(const std::vector<std::pair<std::size_t, std::size_t>>& lines, std::size_t padded) {
    bool standard = false;
    bool url = false;
    std::size_t total = 0;
    for (const auto& [b, e] : lines) {
      total += e - b;
      for (std::size_t k = b; k < e; ++k) {
        standard = standard || t_[k] == '+' || t_[k] == '/';
        url = url || t_[k] == '-' || t_[k] == '_';
      }
    }
    const std::size_t pad = padded - lines.back().second;
    if (standard && url) return false;  // two alphabets: not base64
    if (pad > 0 ? (total + pad) % 4 != 0 : total % 4 == 1) return false;
    MappedText d;
    for (std::size_t li = 0; li < lines.size(); ++li) {
      const auto [b, e] = lines[li];
      const bool last = li + 1 == lines.size();
      for (std::size_t g = b; g < e && !full(d); g += 4) {
        const std::size_t chars = std::min<std::size_t>(4, e - g);
        const std::size_t group_end = (last && g + 4 >= e) ? padded : g + chars;
        std::uint32_t bits = 0;
        for (std::size_t c = 0; c < 4; ++c) {
          bits = (bits << 6) | (c < chars ? static_cast<std::uint32_t>(base64_value(t_[g + c])) : 0);
        }
        const std::size_t bytes = chars - 1;  // 4 chars: 3 bytes, 3: 2, 2: 1
        for (std::size_t o = 0; o < bytes; ++o) {
          d.text.push_back(static_cast<char>((bits >> (16 - 8 * o)) & 0xFF));
          d.map.push_back(span(g, group_end));
        }
      }
    }
    return keep(begin_of(lines), padded, std::move(d));
  }

  static std::size_t begin_of(const std::vector<std::pair<std::size_t, std::size_t>>& lines) {
    return lines.front().first;
  }

  // Decoders stop once a decoding reaches the budget left.
  bool full(const MappedText& d) const { return d.text.size() >= budget_; }

  bool keep(std::size_t begin, std::size_t end, MappedText decoded) {
    if (decoded.text.size() >= budget_) {  // the rest of the budget: cut, on a character boundary
      decoded.text.resize(budget_);
      trim_partial_character(decoded.text);
      decoded.map.resize_uninitialized(decoded.text.size());
    }
    if (!is_text(decoded.text)) return false;
    budget_ -= decoded.text.size();
    out_.push_back({begin, end, std::move(decoded)});
    return true;
  }

  // Drops an incomplete UTF-8 sequence at the end of a cut decoding.
  static void trim_partial_character(std::string& s) {
    const std::size_t n = s.size();
    for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
      const auto b = static_cast<unsigned char>(s[n - back]);
      if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
      const std::size_t needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
      if (needed > back) s.resize(n - back);
      return;
    }
  }

  const unsigned char* t_;
  std::size_t n_;
  std::size_t& budget_;
  std::vector<Piece>& out_;
};

// Maps a text decoded from `outer` (its map points into outer.text) to the
// sources of `outer`.
Span compose(const MappedText& outer, Span inner) {
  return outer.source(inner.begin, inner.end);
}

// Replaces, in a decoded piece, the spans that are themselves encoded by
// their decodings (depth 2).
MappedText substitute(const MappedText& outer, const std::vector<Piece>& inner) {
  MappedText out;
  out.text.reserve(outer.text.size());
  out.map.reserve(outer.text.size());
  std::size_t pos = 0;
  auto copy = [&](std::size_t until) {
    out.text.append(outer.text, pos, until - pos);
    for (; pos < until; ++pos) out.map.push_back(outer.source(pos));
  };
  for (const Piece& p : inner) {
    copy(p.begin);
    out.text += p.decoded.text;
    for (std::size_t i = 0; i < p.decoded.text.size(); ++i) {
      out.map.push_back(compose(outer, p.decoded.source(i)));
    }
    pos = p.end;
  }
  copy(outer.text.size());
  return out;
}

}  // namespace

bool may_decode(std::string_view utf8) noexcept {
  static_assert(kMinEncodedRun == 16, "EncodedSigns looks for runs of 16");
  bool result = false;
  ascii::EncodedSigns signs(kMinEncodedRun);
  ascii::for_each_block(reinterpret_cast<const unsigned char*>(utf8.data()), utf8.size(),
                        [&](std::size_t, const ascii::BlockMasks& m, const ascii::BlockMasks&) {
                          result = signs.found(m);
                          return !result;
                        });
  return result;
}

bool decode(std::string_view utf8, MappedText& out, bool checked) {
  out.text.clear();
  out.map.clear();
  if (!checked && !may_decode(utf8)) return false;
  std::size_t budget = kMaxDecodedBytes;
  std::vector<Piece> pieces;
  Finder(utf8, budget, pieces).run();
  if (pieces.empty()) return false;
  MappedText folded;
  for (Piece& piece : pieces) {
    MappedText& decoded = piece.decoded;
    static_assert(kMaxDecodeDepth == 2, "one more level is decoded inside each piece");
    if (budget > 0 && may_decode(decoded.text)) {
      std::vector<Piece> inner;
      Finder(decoded.text, budget, inner).run();
      if (!inner.empty()) decoded = substitute(decoded, inner);
    }
    if (!out.text.empty()) {  // '\n' between pieces, mapped between their sources
      const Span before = out.map.back();
      out.text.push_back('\n');
      out.map.push_back({before.end, decoded.source(0).begin});
    }
    if (fold(decoded.text, folded)) {
      out.text += folded.text;
      for (std::size_t i = 0; i < folded.text.size(); ++i) {
        out.map.push_back(compose(decoded, folded.source(i)));
      }
    } else {
      out.text += decoded.text;
      for (std::size_t i = 0; i < decoded.text.size(); ++i) out.map.push_back(decoded.source(i));
    }
  }
  return true;
}

}  // namespace llmward::views
