// libFuzzer harness: the normalizer (folded and decoded views) and their
// offset maps. For any text: every view is valid UTF-8, every byte of a view
// maps to a range of the original whose ends lie on character boundaries,
// the map is monotonic, and the quick pre-checks never skip a view that
// would differ from the text (mapped_text.hpp, fold.hpp, decode.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_checks.hpp"
#include "llmward/decode.hpp"
#include "llmward/fold.hpp"
#include "llmward/mapped_text.hpp"
#include "llmward/utf8.hpp"
#include "llmward/views.hpp"

namespace {

using llmward::views::MappedText;
using llmward::views::Span;
using fuzz::require;

std::size_t char_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// `same_range_per_character`: the folded view maps each of its characters as
// a whole; the decoded view may split one across base64 groups.
void check_map(std::string_view source, const MappedText& view, bool same_range_per_character) {
  require(llmward::utf8::is_valid(view.text), "view is not valid UTF-8");
  if (view.text.empty()) return;  // everything was removed (e.g. a lone combining mark)
  if (view.map.empty()) {  // identity: byte i came from byte i
    require(view.text.size() == source.size(), "identity map with a different length",
            view.text.size(), source.size());
    return;
  }
  require(view.map.size() == view.text.size(), "map size differs from the text size",
          view.map.size(), view.text.size());
  Span previous{0, 0};
  for (std::size_t i = 0; i < view.map.size(); ++i) {
    const Span s = view.map[i];
    require(s.begin <= s.end && s.end <= source.size(), "span out of range", s.begin, s.end);
    require(fuzz::is_boundary(source, s.begin), "span begin inside a character", i, s.begin);
    require(fuzz::is_boundary(source, s.end), "span end inside a character", i, s.end);
    require(s.begin >= previous.begin && s.end >= previous.end, "map not monotonic", i, s.begin);
    previous = s;
  }
  if (!same_range_per_character) return;
  for (std::size_t i = 0; i < view.text.size();) {
    const std::size_t length = char_length(static_cast<unsigned char>(view.text[i]));
    for (std::size_t k = 1; k < length; ++k) {
      require(view.map[i + k].begin == view.map[i].begin && view.map[i + k].end == view.map[i].end,
              "one character maps to several ranges", i, k);
    }
    i += length;
  }
}

bool same(const MappedText& a, const MappedText& b) {
  if (a.text != b.text || a.map.size() != b.map.size()) return false;
  for (std::size_t i = 0; i < a.map.size(); ++i) {
    if (a.map[i].begin != b.map[i].begin || a.map[i].end != b.map[i].end) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t distance = data[0];  // for hold_start
  // Views are defined on valid UTF-8; repair keeps every byte offset.
  const std::string text =
      llmward::utf8::repair(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  namespace v = llmward::views;

  const v::QuickScan quick = v::quick_scan(text);
  require(quick.fold == v::may_fold(text) && quick.decode == v::may_decode(text),
          "quick_scan disagrees with may_fold/may_decode");

  MappedText folded;
  const bool did_fold = v::fold(text, folded);
  if (!quick.fold) require(!did_fold, "may_fold() said nothing folds, fold() changed the text");
  if (did_fold) {
    require(folded.text != text, "fold() reported a change but the text is identical");
    check_map(text, folded, true);
    MappedText checked;
    require(v::fold(text, checked, true) && same(folded, checked), "fold(checked) differs");
  }

  MappedText decoded;
  const bool did_decode = v::decode(text, decoded);
  if (!quick.decode) require(!did_decode, "may_decode() said nothing decodes, decode() did");
  if (did_decode) check_map(text, decoded, false);

  const auto views = v::build_views(text, v::kAllViews);
  require(!views.empty() && views[0].index == v::kRawIndex && views[0].mapped.text == text,
          "raw view is not the text");
  for (const v::View& view : views) {
    if (view.index == v::kFoldedIndex) {
      require(did_fold && same(view.mapped, folded), "build_views folded view differs");
    } else if (view.index == v::kDecodedIndex) {
      require(did_decode && same(view.mapped, decoded), "build_views decoded view differs");
    }
  }

  const std::int64_t hold = v::hold_start(text, distance);
  if (hold >= 0) {
    const auto o = static_cast<std::size_t>(hold);
    require(fuzz::is_boundary(text, o), "hold_start inside a character", o);
    require(distance == 0 ? o == text.size() : text.size() - o >= distance,
            "hold_start leaves less than the distance", o, distance);
  } else {
    require(hold == -1 && distance > 0, "hold_start returned an odd value");
  }
  return 0;
}
