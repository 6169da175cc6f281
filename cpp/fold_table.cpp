// Builds the per-code-point fold table from ICU once per process.
//
// For a code point cp the replacement is, in this order:
//   1. nothing, for invisible characters (Default_Ignorable_Code_Point, which
//      covers zero-width characters, bidi controls, tag characters, variation
//      selectors, the combining grapheme joiner and the Hangul fillers);
//   2. a space, for White_Space other than '\n' (and U+2800 BRAILLE PATTERN
//      BLANK, a popular invisible filler);
//   3. its ASCII digit, for a decimal digit of any script;
//   4. its compatibility folding: NFKD, nonspacing marks (Mn) and invisible
//      characters dropped, whitespace and digits as above, then NFC;
//   5. when that is not plain ASCII: its Latin reading under UTS #39, the
//      ASCII character whose confusable skeleton equals the skeleton of cp
//      (Cyrillic "а" -> "a", Cyrillic "І" -> "I"), or the skeleton itself
//      when it is ASCII ("æ" -> "ae"). Letters only take readings that contain
//      a letter ("б" is not read as "6"), and scripts whose ordinary text is
//      not a Latin look-alike (Arabic, Hebrew, CJK, Indic, ...) keep step 4.
// Hangul letters keep their form altogether (only its fillers are removed).
// Replacements longer than kMaxReplacementCodePoints keep the code point as
// it is: no evasion needs them and they would inflate the view.
#include "llmward/fold_table.hpp"
#include "llmward/utf8.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace llmward::fold {
namespace {

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr std::size_t kBlocks = (kMaxCodePoint + 1) >> 8;
constexpr int kMaxReplacementCodePoints = 4;

// Kana voicing marks are nonspacing marks, but dropping them changes the
// kana ("が" -> "か"): Japanese text keeps them.
bool keeps_mark(UChar32 c) { return c == 0x3099 || c == 0x309A; }

bool is_removed(UChar32 c) {
  return u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) ||
         // The explicit list of the issue; all of these are Default_Ignorable
         // in current Unicode, listed so an older ICU still removes them.
         (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF ||
         c == 0x00AD || c == 0x061C || c == 0x034F || c == 0x115F || c == 0x1160 ||
         c == 0x3164 || c == 0xFFA0 || c == 0x180E || (c >= 0xFE00 && c <= 0xFE0F) ||
         (c >= 0xE0000 && c <= 0xE007F) || (c >= 0xE0100 && c <= 0xE01EF);
}

bool is_space(UChar32 c) { return c != '\n' && (u_isUWhiteSpace(c) || c == 0x2800); }

// Ranges that map to themselves and need no ICU work: CJK ideographs, Hangul
// syllables, surrogates, private use. (Compatibility ideographs, which NFKC
// changes, are outside these ranges.)
bool is_known_identity(UChar32 c) {
  return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xD800 && c <= 0xF8FF) ||
         (c >= 0x20000 && c <= 0x2F7FF) || (c >= 0x30000 && c <= 0x3FFFF) || c >= 0xF0000;
}

// Scripts whose everyday text must not be read as Latin: a few of their
// letters look like Latin ones (Arabic alef, Hebrew vav -> "l"), which would
// only sprinkle noise over benign text.
bool keeps_script(UChar32 c) {
  UErrorCode status = U_ZERO_ERROR;
  switch (uscript_getScript(c, &status)) {
    case USCRIPT_ARABIC: case USCRIPT_HEBREW: case USCRIPT_SYRIAC: case USCRIPT_THAANA:
    case USCRIPT_NKO: case USCRIPT_HAN: case USCRIPT_HIRAGANA: case USCRIPT_KATAKANA:
    case USCRIPT_HANGUL: case USCRIPT_BOPOMOFO: case USCRIPT_YI: case USCRIPT_DEVANAGARI:
    case USCRIPT_BENGALI: case USCRIPT_GURMUKHI: case USCRIPT_GUJARATI: case USCRIPT_ORIYA:
    case USCRIPT_TAMIL: case USCRIPT_TELUGU: case USCRIPT_KANNADA: case USCRIPT_MALAYALAM:
    case USCRIPT_SINHALA: case USCRIPT_THAI: case USCRIPT_LAO: case USCRIPT_TIBETAN:
    case USCRIPT_MYANMAR: case USCRIPT_KHMER: case USCRIPT_ETHIOPIC:
      return true;
    default:
      return false;
  }
}

// Hangul keeps its own forms: compatibility jamo ("ㅋㅋ") would otherwise
// become conjoining jamo, which changes Korean text for no evasion gained.
bool keeps_form(UChar32 c) {
  UErrorCode status = U_ZERO_ERROR;
  return uscript_getScript(c, &status) == USCRIPT_HANGUL;
}

bool is_letter(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0; }

bool all_ascii(const std::u32string& s) {
  return std::all_of(s.begin(), s.end(), [](char32_t c) { return c < 0x80; });
}


std::u32string to_u32(const icu::UnicodeString& s) {
  std::u32string out;
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) out.push_back(s.char32At(i));
  return out;
}

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) {
    throw std::runtime_error(std::string("ICU: ") + what + " failed: " + u_errorName(status));
  }
}

// The ICU state the table build needs; used only while building.
class Folder {
 public:
  Folder() {
    UErrorCode status = U_ZERO_ERROR;
    nfkd_ = icu::Normalizer2::getNFKDInstance(status);
    check(status, "NFKD instance");
    nfc_ = icu::Normalizer2::getNFCInstance(status);
    check(status, "NFC instance");
    spoof_.reset(uspoof_open(&status));
    check(status, "uspoof_open");
    // The Latin reading of a skeleton: which printable ASCII characters have it.
    for (char32_t a = 0x21; a < 0x7F; ++a) readings_[skeleton(std::u32string(1, a))].push_back(a);
  }

  std::u32string fold(UChar32 c) const {
    if (is_removed(c)) return {};
    if (is_space(c)) return U" ";
    if (c < 0x80) return std::u32string(1, static_cast<char32_t>(c));
    if (u_charType(c) == U_DECIMAL_DIGIT_NUMBER) {
      const int32_t digit = u_charDigitValue(c);
      if (digit >= 0 && digit <= 9) return std::u32string(1, U'0' + digit);
    }
    if (keeps_form(c)) return std::u32string(1, static_cast<char32_t>(c));
    std::u32string folded = compat(std::u32string(1, static_cast<char32_t>(c)));
    if (all_ascii(folded) || keeps_script(c)) return folded;
    std::u32string latin = latin_reading(c, folded);
    return latin.empty() ? folded : latin;
  }

 private:
  struct SpoofCloser {
    void operator()(USpoofChecker* s) const noexcept { uspoof_close(s); }
  };

  // NFKD, drop nonspacing marks and invisibles, fold spaces and digits, NFC.
  std::u32string compat(const std::u32string& in) const {
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString decomposed = nfkd_->normalize(
        icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(in.data()),
                                      static_cast<int32_t>(in.size())),
        status);
    check(status, "NFKD");
    icu::UnicodeString kept;
    for (char32_t c : to_u32(decomposed)) {
      const auto uc = static_cast<UChar32>(c);
      if (is_removed(uc)) continue;
      if (u_charType(uc) == U_NON_SPACING_MARK && !keeps_mark(uc)) continue;
      if (is_space(uc)) {
        kept.append(static_cast<UChar32>(' '));
      } else if (uc >= 0x80 && u_charType(uc) == U_DECIMAL_DIGIT_NUMBER &&
                 u_charDigitValue(uc) >= 0 && u_charDigitValue(uc) <= 9) {
        kept.append(static_cast<UChar32>('0' + u_charDigitValue(uc)));
      } else {
        kept.append(uc);
      }
    }
    const icu::UnicodeString composed = nfc_->normalize(kept, status);
    check(status, "NFC");
    return to_u32(composed);
  }

  std::u32string skeleton(const std::u32string& in) const {
    UErrorCode status = U_ZERO_ERROR;
    icu::UnicodeString out;
    uspoof_getSkeletonUnicodeString(
        spoof_.get(), 0,
        icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(in.data()),
                                      static_cast<int32_t>(in.size())),
        out, &status);
    check(status, "uspoof_getSkeleton");
    return compat(to_u32(out));
  }

  std::u32string latin_reading(UChar32 c, const std::u32string& folded) const {
    const std::u32string sk = skeleton(folded);
    if (sk.empty() || sk == folded) return {};
    std::u32string reading;
    if (auto it = readings_.find(sk); it != readings_.end()) {
      reading.push_back(pick(c, it->second));
    } else if (all_ascii(sk)) {
      reading = sk;
    } else {
      return {};
    }
    if (is_letter(c) &&
        std::none_of(reading.begin(), reading.end(), [](char32_t r) { return u_isalpha(r); })) {
      return {};  // a letter read as a digit or a symbol would only add noise
    }
    return reading;
  }

  // Among the ASCII characters sharing a skeleton ("l": 1 I l |), prefer a
  // letter of the same case as the code point read.
  static char32_t pick(UChar32 c, const std::vector<char32_t>& candidates) {
    const bool upper = u_isupper(c);
    char32_t letter = 0;
    for (char32_t a : candidates) {
      if (!u_isalpha(a)) continue;
      if (static_cast<bool>(u_isupper(a)) == upper) return a;
      if (letter == 0) letter = a;
    }
    return letter != 0 ? letter : candidates.front();
  }

  const icu::Normalizer2* nfkd_ = nullptr;
  const icu::Normalizer2* nfc_ = nullptr;
  std::unique_ptr<USpoofChecker, SpoofCloser> spoof_;
  std::map<std::u32string, std::vector<char32_t>> readings_;
};

}  // namespace

FoldTable::FoldTable() : index_(kBlocks) {
  Folder folder;
  std::unordered_map<std::string, std::uint16_t> known_blocks;
  std::unordered_map<std::string, std::uint32_t> known_replacements;
  std::array<std::uint32_t, 256> block{};
  std::string utf8;
  std::string classes;
  for (std::size_t b = 0; b < kBlocks; ++b) {
    for (std::uint32_t low = 0; low < 256; ++low) {
      const auto c = static_cast<UChar32>((b << 8) | low);
      std::uint32_t entry = kIdentity;
      if ((U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_M_MASK)) != 0) entry |= kWordChar;
      const bool skip = !is_removed(c) && !is_space(c) &&
                        (is_known_identity(c) || u_charType(c) == U_UNASSIGNED);
      if (!skip) {
        const std::u32string folded = folder.fold(c);
        if (!(folded.size() == 1 && folded[0] == static_cast<char32_t>(c)) &&
            folded.size() <= kMaxReplacementCodePoints) {
          utf8.clear();
          classes.clear();
          for (char32_t r : folded) {
            const std::size_t before = utf8.size();
            utf8::append(utf8, static_cast<std::uint32_t>(r));
            const bool word = r >= 0x80 && (U_GET_GC_MASK(static_cast<UChar32>(r)) &
                                            (U_GC_L_MASK | U_GC_M_MASK)) != 0;
            classes.append(utf8.size() - before, static_cast<char>(word ? kWordByte : 0));
          }
          auto [it, fresh] =
              known_replacements.emplace(utf8, static_cast<std::uint32_t>(pool_.size()));
          if (fresh) pool_ += utf8 + classes;
          entry = (entry & kWordChar) | (it->second << kOffsetShift) |
                  static_cast<std::uint32_t>(utf8.size());
          max_replacement_ = std::max(max_replacement_, utf8.size());
        }
      }
      block[low] = entry;
    }
    std::string key(reinterpret_cast<const char*>(block.data()), sizeof(block));
    auto [it, fresh] =
        known_blocks.emplace(std::move(key), static_cast<std::uint16_t>(known_blocks.size()));
    if (fresh) entries_.insert(entries_.end(), block.begin(), block.end());
    index_[b] = it->second;
  }
  pool_.append(16, '\0');  // readers may load a few bytes past a replacement
  if (pool_.size() >= (std::size_t{1} << (32 - kOffsetShift))) {
    throw std::runtime_error("fold table: replacement pool too large");
  }
}

const FoldTable& FoldTable::get() {
  static std::once_flag once;
  static std::unique_ptr<FoldTable> table;
  std::call_once(once, [] { table.reset(new FoldTable()); });
  return *table;
}

}  // namespace llmward::fold
