// Windows of a text around the bytes of a small ASCII set, for rules whose
// every match contains one of those bytes (Rule::requires_any): a match at
// most `radius` bytes wide lies within `radius` bytes of one of them, so the
// detection pass scans only those windows. For prose, the PII rules (every
// match has a digit or an '@') then cost next to nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace llmward {

// Membership in a set of ASCII bytes, 16 bytes at a time (nibble tables:
// the low-nibble table has bit h set for each member with high nibble h).
class AsciiSet {
 public:
  AsciiSet() = default;
  explicit AsciiSet(std::string_view members, bool caseless);

  bool contains(unsigned char byte) const noexcept {
    return byte < 0x80 && (low_[byte & 15] >> (byte >> 4) & 1) != 0;
  }
  bool empty() const noexcept { return bits_ == 0; }
  bool operator==(const AsciiSet& other) const noexcept { return low_ == other.low_; }
  const std::array<std::uint8_t, 16>& low() const noexcept { return low_; }

 private:
  std::array<std::uint8_t, 16> low_{};
  unsigned bits_ = 0;
};

struct Window {
  std::size_t begin;
  std::size_t end;
};

// A match of a scan of text[w.begin, w.end), moved to text coordinates;
// false when it touches a cut edge (an edge that is not an end of the text),
// where a \b or ^ the whole text does not have can create it. Windows reaching
// a rule's width + 1 beyond what they surround hold every true match clear of
// their edges.
template <typename Match>
bool from_window(const Match& m, const Window& w, std::size_t text_size, Match& out) {
  const std::size_t width = w.end - w.begin;
  if ((m.start == 0 && w.begin != 0) || (m.end == width && w.end != text_size)) return false;
  out = m;
  out.start = m.start + w.begin;
  out.end = m.end + w.begin;
  return true;
}

// Builds merged, sorted windows [p - radius, p + radius + 1) around
// positions added in increasing order, clipped to the text and widened to
// whole UTF-8 characters. finish() gives one window over the whole text when
// they would cover most of it anyway.
class WindowBuilder {
 public:
  WindowBuilder(std::string_view text, std::uint64_t radius) : text_(text), radius_(radius) {}
  void add(std::size_t position);
  // Adds [begin, end) itself (clipped and widened alike); begins must not
  // decrease from one call to the next, whichever of the two adds them.
  void add_range(std::size_t begin, std::size_t end);
  std::vector<Window> finish() &&;

 private:
  std::string_view text_;
  std::uint64_t radius_;
  std::vector<Window> out_;
};

// Merged, sorted windows [p - radius, p + radius + 1) around every member
// byte p, clipped to the text. Returns no window when there is no member, and
// one window over the whole text when they would cover most of it anyway.
std::vector<Window> anchor_windows(std::string_view text, const AsciiSet& set, std::uint64_t radius);

}  // namespace llmward
