// The folded view in three steps (see fold.hpp). Step 1 writes, next to the
// folded text and its map, one class byte per byte ("part of a non-ASCII
// letter or mark"), so steps 2 and 3 can classify every byte without
// decoding: they run as one vectorized pass over 64-byte blocks that looks
// only at the few places where a word could change (a digit, '$' or '!' next
// to a letter; two single characters a few bytes apart), checked exactly
// there. Plain ASCII input is first checked the same way, before anything is
// built.
#include "llmward/fold.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ascii_masks.hpp"
#include "char_class.hpp"
#include "llmward/decode.hpp"
#include "llmward/fold_table.hpp"
#include "llmward/utf8.hpp"

namespace llmward::views {
namespace {

using ascii::cls;
using fold::FoldTable;

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

inline std::size_t lowest_bit(std::uint64_t x) {
  return static_cast<std::size_t>(__builtin_ctzll(x));
}

inline Span span_of(std::size_t begin, std::size_t end) {
  return {static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end)};
}

// ---------------------------------------------------------------------------
// Classifying the characters of folded text. A token is a maximal run of
// letters and marks (any script), ASCII digits, '$' and '!'; `word` marks
// the bytes of non-ASCII letters and marks (null for ASCII-only text).

struct Chars {
  const unsigned char* t;
  const unsigned char* word;
  std::size_t n;

  bool non_ascii_word(std::size_t i) const { return word != nullptr && word[i] != 0; }
  bool token(std::size_t i) const {
    return t[i] < 0x80 ? (cls(t[i]) & ascii::kToken) != 0 : non_ascii_word(i);
  }
  bool letter(std::size_t i) const {
    return t[i] < 0x80 ? (cls(t[i]) & ascii::kLetter) != 0 : non_ascii_word(i);
  }
  // May be one of the spaced-out singles: a letter or a leet character.
  bool eligible(std::size_t i) const {
    return t[i] < 0x80 ? (cls(t[i]) & (ascii::kLetter | ascii::kLeet)) != 0 : non_ascii_word(i);
  }
  bool digit_or_sym(std::size_t i) const {
    return t[i] < 0x80 && (cls(t[i]) & (ascii::kDigit | ascii::kLeetSym)) != 0;
  }
  std::size_t char_end(std::size_t i) const {
    std::size_t j = i + 1;
    while (j < n && (t[j] & 0xC0) == 0x80) ++j;
    return j;
  }
};

// Step 3, exactly, for the maximal run of digits, '$' and '!' around `pos`:
// does reading leet change anything? Sets run_end to the end of the run.
bool leet_run_changes(const Chars& c, std::size_t pos, std::size_t& run_end) {
  std::size_t a = pos;
  std::size_t b = pos;
  while (a > 0 && c.digit_or_sym(a - 1)) --a;
  while (b < c.n && c.digit_or_sym(b)) ++b;
  run_end = b;
  const bool letter_before = a > 0 && c.letter(a - 1);
  const bool letter_after = b < c.n && c.letter(b);
  if (!letter_before && !letter_after) return false;  // a number, not a word
  // '!' ending the word is punctuation ("hello!"): a trailing run of '!'
  // stays unless a letter follows.
  std::size_t last_non_bang = kNone;
  for (std::size_t k = a; k < b; ++k)
    if (c.t[k] != '!') last_non_bang = k;
  for (std::size_t k = a; k < b; ++k) {
    if (c.t[k] == '!') {
      if (letter_after || (last_non_bang != kNone && k < last_non_bang)) return true;
    } else if (cls(c.t[k]) & ascii::kLeet) {
      return true;
    }
  }
  return false;
}

// Step 3 on the token around `pos`: leet characters take their reading,
// except a trailing run of '!'. Returns the end of the token.
std::size_t read_leet_token(const Chars& c, unsigned char* t, std::size_t pos) {
  std::size_t a = pos;
  std::size_t b = pos;
  while (a > 0 && c.token(a - 1)) --a;
  while (b < c.n && c.token(b)) ++b;
  std::size_t stop = b;
  while (stop > a && t[stop - 1] == '!') --stop;
  for (std::size_t k = a; k < stop; ++k) {
    if (t[k] < 0x80 && (cls(t[k]) & ascii::kLeet)) {
      t[k] = static_cast<unsigned char>(ascii::leet_reading(t[k]));
    }
  }
  return b;
}

// Is the character starting at i a token of its own (a spaced-out single)?
bool single_at(const Chars& c, std::size_t i) {
  if (!c.eligible(i) || (i > 0 && c.token(i - 1))) return false;
  const std::size_t end = c.char_end(i);
  return end >= c.n || !c.token(end);
}

// Step 2, exactly, from the single at i: is there a run of at least three
// singles, one of them a letter, each two separated by 1-3 separator
// characters of one kind (the same set of separator characters)?
bool collapses_from(const Chars& c, std::size_t i) {
  if (!single_at(c, i)) return false;
  int count = 1;
  bool letter = c.letter(i);
  std::uint8_t kind = 0;
  std::size_t pos = i;
  for (;;) {
    const std::size_t gap_start = c.char_end(pos);
    std::size_t g = gap_start;
    std::uint8_t mask = 0;
    while (g < c.n && g - gap_start < 4 && ascii::sep_bit(c.t[g])) mask |= ascii::sep_bit(c.t[g++]);
    const std::size_t gap = g - gap_start;
    if (gap == 0 || gap > 3 || g >= c.n || !single_at(c, g)) return false;
    if (kind != 0 && mask != kind) {  // a new run starts at the previous single
      count = 1;
      letter = c.letter(pos);
    }
    kind = mask;
    ++count;
    letter = letter || c.letter(g);
    if (count >= 3 && letter) return true;
    pos = g;
  }
}

// The vectorized checks of steps 2 and 3, block by block. On folded text
// (`word` set) they read leet in place when `writable` is set (the text
// itself) and tell whether a separator run to collapse exists. On input text
// (`word` null, `writable` null) they change nothing and stop at the first
// sign that folding would change something.
struct WordScan {
  bool chars = false;  // input only: non-ASCII or whitespace to fold
  bool collapse = false;
  bool leet = false;
};

class WordChecks {
 public:
  WordChecks(const Chars& c, unsigned char* writable, bool find_collapse)
      : c_(c), writable_(writable), find_collapse_(find_collapse) {}

  const WordScan& result() const { return result_; }

  // One block, knowing the next (all zero after the last); `word_bits` and
  // `next_word_bits`: their non-ASCII letters (0 on input text). Returns
  // false when the scan can stop.
  __attribute__((always_inline)) bool block(std::size_t offset, const ascii::BlockMasks& m,
                                            const ascii::BlockMasks& next, std::uint64_t word_bits,
                                            std::uint64_t next_word_bits) {
    if (c_.word == nullptr && (m.high | m.ws) != 0) {
      result_.chars = true;
      return false;
    }
    const std::uint64_t letter = m.letter | word_bits;
    const std::uint64_t token = letter | m.x;
    const std::uint64_t next_letter = next.letter | next_word_bits;
    const std::uint64_t next_token = next_letter | next.x;
    // Bit i of x >> k, continued by the next block's bits.
    auto ahead = [](std::uint64_t x, std::uint64_t following, unsigned k) {
      return (x >> k) | (following << (64 - k));
    };

    // Leet: a digit, '$' or '!' next to a letter; a '!' only when the token
    // goes on after it (one that ends the token is punctuation: "hello!").
    const std::uint64_t letter_near =
        (letter << 1) | (prev_letter_ >> 63) | ahead(letter, next_letter, 1);
    const std::uint64_t leet_candidates =
        m.x == 0 ? 0
                 : ((m.x & ~m.bang) | (m.bang & ahead(token, next_token, 1))) & letter_near;
    for (std::uint64_t bits = leet_candidates; bits != 0; bits &= bits - 1) {
      const std::size_t pos = offset + lowest_bit(bits);
      if (pos < skip_until_) continue;
      std::size_t run_end = pos;
      if (!leet_run_changes(c_, pos, run_end)) {
        skip_until_ = run_end;
        continue;
      }
      result_.leet = true;
      if (writable_ == nullptr) return false;
      skip_until_ = read_leet_token(c_, writable_, pos);
    }

    // Collapse: a token of one character (of up to four bytes) with another
    // such token starting 2-7 bytes on.
    if (find_collapse_ && !result_.collapse) {
      const std::uint64_t starts = token & ~((token << 1) | (prev_token_ >> 63));
      const std::uint64_t ends = token & ~ahead(token, next_token, 1);
      const std::uint64_t next_starts = next_token & ~((next_token << 1) | (token >> 63));
      const std::uint64_t next_ends = next_token & ~(next_token >> 1);  // exact in its low bits
      std::uint64_t single = starts & ends;  // one-byte tokens
      std::uint64_t next_single = next_starts & next_ends;
      if (((m.cont | next.cont) & (token | next_token)) != 0) {  // multi-byte letters
        const std::uint64_t cont = token & m.cont;
        const std::uint64_t next_cont = next_token & next.cont;
        single = starts & (ends | (ahead(cont, next_cont, 1) &
                                   (ahead(ends, next_ends, 1) |
                                    (ahead(cont, next_cont, 2) &
                                     (ahead(ends, next_ends, 2) |
                                      (ahead(cont, next_cont, 3) & ahead(ends, next_ends, 3)))))));
        next_single =  // exact in the low bits used below
            next_starts &
            (next_ends | ((next_cont >> 1) & ((next_ends >> 1) |
                                              ((next_cont >> 2) & ((next_ends >> 2) |
                                                                   ((next_cont >> 3) & (next_ends >> 3)))))));
      }
      // Two singles within 7 bytes: more than one in this block, or one here
      // and one early in the next.
      if ((single & (single - 1)) != 0 || (single != 0 && (next_single & 0x7F) != 0)) {
        std::uint64_t near = 0;
        for (unsigned k = 2; k <= 7; ++k) near |= ahead(single, next_single, k);
        for (std::uint64_t bits = single & near; bits != 0; bits &= bits - 1) {
          if (collapses_from(c_, offset + lowest_bit(bits))) {
            result_.collapse = true;
            if (writable_ == nullptr) return false;
            break;
          }
        }
      }
    }
    prev_letter_ = letter;
    prev_token_ = token;
    return true;
  }

 private:
  const Chars& c_;
  unsigned char* writable_;
  bool find_collapse_;
  WordScan result_;
  std::uint64_t prev_letter_ = 0;
  std::uint64_t prev_token_ = 0;
  std::size_t skip_until_ = 0;
};

// Steps 2 and 3 checks over a whole text (see WordChecks).
WordScan scan_words(const unsigned char* t, unsigned char* writable, const unsigned char* word,
                    std::size_t n, bool find_collapse) {
  const Chars c{t, word, n};
  WordChecks checks(c, writable, find_collapse);
  auto word_bits = [&](std::size_t offset) -> std::uint64_t {
    if (word == nullptr || offset >= n) return 0;
    if (n - offset >= 64) return ascii::high_bits(word + offset);
    unsigned char tail[64] = {};
    std::memcpy(tail, word + offset, n - offset);
    return ascii::high_bits(tail);
  };
  std::uint64_t current_word = word_bits(0);
  ascii::for_each_block(t, n, [&](std::size_t offset, const ascii::BlockMasks& m,
                                  const ascii::BlockMasks& next) {
    const std::uint64_t next_word = word_bits(offset + 64);
    const bool go_on = checks.block(offset, m, next, current_word, next_word);
    current_word = next_word;
    return go_on;
  });
  return checks.result();
}

// ---------------------------------------------------------------------------
// Step 1: code points, into text, map and word classes, through local raw
// pointers (stores through char* would otherwise make the compiler reload
// every member after each byte).

// Decodes the non-ASCII character at p, trusting that the text is valid
// UTF-8 (fold()'s precondition) but never reading past `end`: a truncated
// sequence gives U+FFFD with length 1. Far fewer instructions than
// utf8::next, which validates every byte.
inline char32_t decode_valid(const unsigned char* p, const unsigned char* end,
                             std::size_t& length) {
  const unsigned char b0 = p[0];
  const std::size_t avail = static_cast<std::size_t>(end - p);
  if (b0 < 0xE0) {
    length = 2;
    if (avail < 2) return length = 1, 0xFFFD;
    return (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b0 < 0xF0) {
    length = 3;
    if (avail < 3) return length = 1, 0xFFFD;
    return (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  length = 4;
  if (avail < 4) return length = 1, 0xFFFD;
  const char32_t cp = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
                      (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
  return cp <= 0x10FFFF ? cp : 0xFFFD;  // the table covers U+0000-U+10FFFF only
}

#if defined(__SSE2__)
// Copies 16 ASCII bytes, folding \t \v \f \r to spaces.
inline void copy_ascii16(const unsigned char* src, char* dst) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  const __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - '\t')));
  const __m128i in_range = _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(0x80 + 5)));
  const __m128i ws = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), in_range);
  const __m128i folded =
      _mm_or_si128(_mm_andnot_si128(ws, v), _mm_and_si128(ws, _mm_set1_epi8(' ')));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), folded);
}
#endif

void fold_code_points(std::string_view src, const FoldTable& table, MappedText& out,
                      PodBuffer<unsigned char>& word) {
  const auto* t = reinterpret_cast<const unsigned char*>(src.data());
  const auto* end = t + src.size();
  const std::size_t n = src.size();
  const std::size_t widest = table.max_replacement() + 4;

  std::size_t capacity = n + n / 8 + 64;
  std::size_t pos = 0;
  char* tx = nullptr;
  Span* mp = nullptr;
  unsigned char* wd = nullptr;
  auto grow = [&](std::size_t needed) {
    if (pos + needed <= capacity && tx != nullptr) return;
    capacity = std::max(capacity, (pos + needed) * 2);
    out.text.resize(capacity);
    out.map.resize_uninitialized(capacity);
    word.resize_uninitialized(capacity);
    tx = out.text.data();
    mp = out.map.data();
    wd = word.data();
  };
  grow(0);

  const unsigned char* pool = table.replacement_classes(0);  // pool base: offset 0, length 0
  std::size_t k = 0;
  while (k < n) {
    grow(widest + 16);
    if (t[k] < 0x80) {
#if defined(__SSE2__)
      if (k + 16 <= n &&
          _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + k))) == 0) {
        copy_ascii16(t + k, tx + pos);  // 16 ASCII bytes at once
        for (std::size_t j = 0; j < 16; ++j) mp[pos + j] = span_of(k + j, k + j + 1);
        std::memset(wd + pos, 0, 16);
        pos += 16;
        k += 16;
        continue;
      }
#endif
      const unsigned char c = t[k];
      tx[pos] = (cls(c) & ascii::kWsFold) ? ' ' : static_cast<char>(c);
      mp[pos] = span_of(k, k + 1);
      wd[pos] = 0;
      ++pos;
      ++k;
      continue;
    }
    std::size_t len = 0;
    const char32_t cp = decode_valid(t + k, end, len);
    const std::uint32_t entry = table.entry(cp);
    const Span span = span_of(k, k + len);
    const bool identity = (entry & FoldTable::kIdentity) != 0;
    const std::size_t count = identity ? len : (entry & FoldTable::kLengthMask);
    const unsigned char* from = identity ? t + k : pool + (entry >> FoldTable::kOffsetShift);
    if (count <= 4 && k + 4 <= n) {
      // Fixed four-byte stores (the buffers have room past pos; the pool is
      // padded), with selects instead of branches: whether a character maps
      // to itself follows no pattern in, say, Russian text.
      static constexpr unsigned char kClassesOf[2][4] = {{0, 0, 0, 0},
                                                         {FoldTable::kWordByte, FoldTable::kWordByte,
                                                          FoldTable::kWordByte, FoldTable::kWordByte}};
      const unsigned char* classes =
          identity ? kClassesOf[(entry & FoldTable::kWordChar) != 0] : from + count;
      std::memcpy(tx + pos, from, 4);
      std::memcpy(wd + pos, classes, 4);
      mp[pos] = span;
      mp[pos + 1] = span;
      mp[pos + 2] = span;
      mp[pos + 3] = span;
    } else {
      const unsigned char w = (entry & FoldTable::kWordChar) ? FoldTable::kWordByte : 0u;
      for (std::size_t b = 0; b < count; ++b) {
        tx[pos + b] = static_cast<char>(from[b]);
        mp[pos + b] = span;
        wd[pos + b] = identity ? w : from[count + b];
      }
    }
    pos += count;
    k += len;
  }
  out.text.resize(pos);
  out.map.resize_uninitialized(pos);
  word.resize_uninitialized(pos);
}

// Step 1 for ASCII text: whitespace folded, nothing else. The text keeps its
// length until a collapse (rare), so the map stays empty, meaning the
// identity: 8 bytes per byte of text not written, and not read back.
void fold_ascii(std::string_view src, MappedText& out, PodBuffer<unsigned char>& word) {
  const auto* t = reinterpret_cast<const unsigned char*>(src.data());
  const std::size_t n = src.size();
  out.text.resize(n);
  char* tx = out.text.data();
  std::size_t k = 0;
#if defined(__SSE2__)
  for (; k + 16 <= n; k += 16) copy_ascii16(t + k, tx + k);
#endif
  for (; k < n; ++k) tx[k] = (cls(t[k]) & ascii::kWsFold) ? ' ' : static_cast<char>(t[k]);
  word.resize_uninitialized(n);  // no byte of a non-ASCII letter
  std::memset(word.data(), 0, n);
}

// ---------------------------------------------------------------------------
// Step 2 in full, when the scan found a run: the separator runs to remove.

struct Cut {
  std::size_t begin;
  std::size_t end;
};

// Follows tokens and gaps; a run is at least three singles (one a letter)
// separated by gaps of 1-3 separator characters of the same kind.
class CollapseFinder {
 public:
  explicit CollapseFinder(std::vector<Cut>& cuts) : cuts_(cuts) {}

  void token(bool single, bool letter) {
    if (!single) {
      finish();
      return;
    }
    if (count_ == 0) {
      count_ = 1;
      letter_ = letter;
      kind_ = 0;
      gaps_.clear();
    } else if (kind_ == 0 || pending_mask_ == kind_) {
      gaps_.push_back(pending_);
      kind_ = pending_mask_;
      ++count_;
      letter_ = letter_ || letter;
    } else {  // another kind of separator: a new run from the previous single
      finish();
      count_ = 2;
      letter_ = last_letter_ || letter;
      kind_ = pending_mask_;
      gaps_.assign(1, pending_);
    }
    last_letter_ = letter;
  }

  void gap(Cut range, std::size_t chars, bool all_sep, std::uint8_t mask) {
    if (count_ > 0 && all_sep && chars >= 1 && chars <= 3) {
      pending_ = range;
      pending_mask_ = mask;
    } else {
      finish();
    }
  }

  void finish() {
    if (count_ >= 3 && letter_) cuts_.insert(cuts_.end(), gaps_.begin(), gaps_.end());
    count_ = 0;
  }

 private:
  std::vector<Cut>& cuts_;
  std::vector<Cut> gaps_;
  Cut pending_{0, 0};
  std::uint8_t pending_mask_ = 0;
  std::uint8_t kind_ = 0;
  int count_ = 0;
  bool letter_ = false;
  bool last_letter_ = false;
};

std::vector<Cut> find_collapses(const Chars& c) {
  std::vector<Cut> cuts;
  CollapseFinder finder(cuts);
  bool in_token = false;
  std::size_t start = 0;
  std::size_t chars = 0;
  bool eligible = false;
  bool letter = false;
  bool all_sep = true;
  std::uint8_t mask = 0;
  for (std::size_t i = 0; i < c.n; i = c.char_end(i)) {
    const bool token = c.token(i);
    if (token != in_token) {
      if (in_token) {
        finder.token(chars == 1 && eligible, letter);
      } else if (i > 0) {
        finder.gap({start, i}, chars, all_sep, mask);
      }
      in_token = token;
      start = i;
      chars = 0;
      eligible = c.eligible(i);
      letter = false;
      all_sep = true;
      mask = 0;
    }
    ++chars;
    letter = letter || c.letter(i);
    const std::uint8_t sep = c.t[i] < 0x80 ? ascii::sep_bit(c.t[i]) : 0;
    all_sep = all_sep && sep != 0;
    mask |= sep;
  }
  if (in_token) finder.token(chars == 1 && eligible, letter);
  finder.finish();
  return cuts;
}

void remove_cuts(MappedText& m, PodBuffer<unsigned char>& word, const std::vector<Cut>& cuts) {
  std::size_t write = 0;
  std::size_t read = 0;
  auto keep = [&](std::size_t until) {
    for (; read < until; ++read, ++write) {
      m.text[write] = m.text[read];
      m.map[write] = m.map[read];
      word[write] = word[read];
    }
  };
  for (const Cut& cut : cuts) {
    keep(cut.begin);
    read = cut.end;
  }
  keep(m.text.size());
  m.text.resize(write);
  m.map.resize_uninitialized(write);
  word.resize_uninitialized(write);
}

}  // namespace

bool may_fold(std::string_view utf8) noexcept {
  const WordScan scan = scan_words(reinterpret_cast<const unsigned char*>(utf8.data()), nullptr,
                                   nullptr, utf8.size(), true);
  return scan.chars || scan.collapse || scan.leet;
}

QuickScan quick_scan(std::string_view utf8) noexcept {
  static_assert(kMinEncodedRun == 16, "EncodedSigns looks for runs of 16");
  const auto* t = reinterpret_cast<const unsigned char*>(utf8.data());
  const Chars c{t, nullptr, utf8.size()};
  WordChecks words(c, nullptr, true);
  ascii::EncodedSigns encoded(kMinEncodedRun);
  QuickScan result{false, false};
  ascii::for_each_block(t, utf8.size(), [&](std::size_t offset, const ascii::BlockMasks& m,
                                            const ascii::BlockMasks& next) {
    if (!result.fold) result.fold = !words.block(offset, m, next, 0, 0);
    if (!result.decode) result.decode = encoded.found(m);
    return !(result.fold && result.decode);
  });
  return result;
}

bool fold(std::string_view utf8, MappedText& out, bool checked) {
  out.text.clear();
  out.map.clear();
  if (!checked && !may_fold(utf8)) return false;
  PodBuffer<unsigned char> word;
  if (utf8::is_ascii(utf8)) {
    fold_ascii(utf8, out, word);
  } else {
    fold_code_points(utf8, FoldTable::get(), out, word);
  }
  auto* t = reinterpret_cast<unsigned char*>(out.text.data());
  // Leet is read in words that contain a letter; a spaced-out single never
  // is such a word, so reading leet before collapsing changes nothing the
  // collapse looks at. Words that the collapse creates are read after it.
  if (scan_words(t, t, word.data(), out.text.size(), true).collapse) {
    if (out.map.empty()) {  // the identity, spelled out for the bytes to move
      out.map.resize_uninitialized(out.text.size());
      for (std::size_t i = 0; i < out.text.size(); ++i) out.map[i] = span_of(i, i + 1);
    }
    remove_cuts(out, word, find_collapses(Chars{t, word.data(), out.text.size()}));
    t = reinterpret_cast<unsigned char*>(out.text.data());
    scan_words(t, t, word.data(), out.text.size(), false);
  }
  return out.text != utf8;
}

}  // namespace llmward::views
