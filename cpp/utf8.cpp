#include "llmward/utf8.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace llmward::utf8 {
namespace {

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// Length of the well-formed sequence starting at p (RFC 3629 table 3-7), or 0.
std::size_t sequence_length(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned char b0 = p[0];
  const std::size_t avail = static_cast<std::size_t>(end - p);
  auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return avail >= 2 && cont(p[1]) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail < 3 || !cont(p[2])) return 0;
    const unsigned char b1 = p[1];
    const bool ok = b0 == 0xE0   ? (b1 >= 0xA0 && b1 <= 0xBF)    // no overlongs
                    : b0 == 0xED ? (b1 >= 0x80 && b1 <= 0x9F)  // no surrogates
                                 : cont(b1);
    return ok ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail < 4 || !cont(p[2]) || !cont(p[3])) return 0;
    const unsigned char b1 = p[1];
    const bool ok = b0 == 0xF0   ? (b1 >= 0x90 && b1 <= 0xBF)    // no overlongs
                    : b0 == 0xF4 ? (b1 >= 0x80 && b1 <= 0x8F)  // <= U+10FFFF
                                 : cont(b1);
    return ok ? 4 : 0;
  }
  return 0;
}

// Skips a run of ASCII eight bytes at a time.
const unsigned char* skip_ascii(const unsigned char* p, const unsigned char* end) noexcept {
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    if (word & kHighBits) break;
    p += 8;
  }
  while (p < end && *p < 0x80) ++p;
  return p;
}

}  // namespace

void append(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

template <typename Unit>
void encode_units(const Unit* units, std::size_t length, std::string& out) {
  out.reserve(out.size() + length * (sizeof(Unit) == 1 ? 2 : 3));
  for (std::size_t i = 0; i < length; ++i) append(out, static_cast<std::uint32_t>(units[i]));
}

}  // namespace

bool is_ascii(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return skip_ascii(p, p + bytes.size()) == p + bytes.size();
}

bool is_valid(std::string_view bytes) noexcept {
  auto p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto end = p + bytes.size();
  while ((p = skip_ascii(p, end)) < end) {
    const std::size_t n = sequence_length(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

std::string repair(std::string_view bytes) {
  std::string out(bytes);
  auto base = reinterpret_cast<unsigned char*>(out.data());
  auto p = base;
  const auto end = base + out.size();
  while ((p = const_cast<unsigned char*>(skip_ascii(p, end))) < end) {
    const std::size_t n = sequence_length(p, end);
    if (n == 0) {
      *p++ = static_cast<unsigned char>(kReplacementByte);
    } else {
      p += n;
    }
  }
  return out;
}

void encode(const void* data, int kind, std::size_t length, std::string& out) {
  switch (kind) {
    case 1: encode_units(static_cast<const std::uint8_t*>(data), length, out); break;
    case 2: encode_units(static_cast<const std::uint16_t*>(data), length, out); break;
    default: encode_units(static_cast<const std::uint32_t*>(data), length, out); break;
  }
}

std::uint64_t count_code_points(std::string_view utf8) noexcept {
  std::uint64_t count = 0;
  for (unsigned char b : utf8) count += (b & 0xC0) != 0x80;
  return count;
}

void to_code_point_offsets(std::string_view utf8, std::vector<RawMatch>& matches) {
  if (matches.empty()) return;
  std::vector<std::pair<std::uint64_t, std::uint64_t*>> offsets;
  offsets.reserve(matches.size() * 2);
  for (auto& m : matches) {
    offsets.emplace_back(m.start, &m.start);
    offsets.emplace_back(m.end, &m.end);
  }
  std::sort(offsets.begin(), offsets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const auto* text = reinterpret_cast<const unsigned char*>(utf8.data());
  std::uint64_t byte = 0;
  std::uint64_t code_points = 0;
  for (auto& [target, slot] : offsets) {
    for (; byte < target; ++byte) code_points += (text[byte] & 0xC0) != 0x80;
    *slot = code_points;
  }
}

}  // namespace llmward::utf8
