#include "llmward/pii_checks.hpp"

#include <string>

#include "llmward/utf8.hpp"

namespace llmward::pii {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// The ASCII digits of text[start, end).
std::string digits_of(std::string_view text, std::size_t start, std::size_t end) {
  std::string out;
  for (std::size_t i = start; i < end; ++i)
    if (is_digit(text[i])) out.push_back(text[i]);
  return out;
}

// The number in text[start, end) is not part of a longer number: no digit
// right before or after it, and no digit behind a single '-', '.', '/' or ','
// before it, or a single '-' or '/' after it ("2024-123-45-6789").
bool isolated(std::string_view text, std::size_t start, std::size_t end) noexcept {
  auto at = [&](std::size_t i, bool exists) { return exists ? text[i] : '\0'; };
  const char b1 = at(start - 1, start >= 1);
  const char b2 = at(start - 2, start >= 2);
  const char a1 = at(end, end < text.size());
  const char a2 = at(end + 1, end + 1 < text.size());
  if (is_digit(b1) || is_digit(a1)) return false;
  if ((b1 == '-' || b1 == '.' || b1 == '/' || b1 == ',') && is_digit(b2)) return false;
  return !((a1 == '-' || a1 == '/') && is_digit(a2));
}

int number(std::string_view digits, std::size_t count) noexcept {
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) value = value * 10 + (digits[i] - '0');
  return value;
}

// Checks that need only ASCII text and a span inside it.
template <typename Rule>
Check checked(std::string_view text, std::size_t start, std::size_t end, Rule rule) noexcept {
  if (start > end || end > text.size()) return Check::kUnknown;
  // What the check reads: the span and two characters on each side.
  const std::size_t from = start >= 2 ? start - 2 : 0;
  if (!utf8::is_ascii(text.substr(from, end + 2 - from))) return Check::kUnknown;
  try {
    return rule(digits_of(text, start, end)) && isolated(text, start, end) ? Check::kValid
                                                                           : Check::kInvalid;
  } catch (...) {  // allocation failure: let the Python validator decide
    return Check::kUnknown;
  }
}

}  // namespace

bool luhn_ok(std::string_view digits) noexcept {
  if (digits.empty()) return false;
  static constexpr int kDoubled[] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9};
  int total = 0;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = digits[n - 1 - i];
    if (!is_digit(c)) return false;
    total += (i % 2 == 1) ? kDoubled[c - '0'] : c - '0';
  }
  return total % 10 == 0;
}

bool known_card_brand(std::string_view d) noexcept {
  const std::size_t n = d.size();
  if (n < 12) return false;
  for (const char c : d)
    if (!is_digit(c)) return false;
  const int p2 = number(d, 2), p3 = number(d, 3), p4 = number(d, 4), p6 = number(d, 6);
  const bool long_16_19 = n >= 16 && n <= 19;
  if (d[0] == '4' && (n == 13 || n == 16 || n == 19)) return true;                 // Visa
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n == 16) return true;  // Mastercard
  if ((p2 == 34 || p2 == 37) && n == 15) return true;                                // Amex
  if ((p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925)) &&
      long_16_19) {
    return true;  // Discover
  }
  if (p4 >= 3528 && p4 <= 3589 && long_16_19) return true;  // JCB
  if (((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14 &&
      n <= 19) {
    return true;  // Diners Club
  }
  if (p2 == 62 && long_16_19) return true;  // UnionPay
  switch (p4) {  // Maestro
    case 5018: case 5020: case 5038: case 5893: case 6304: case 6759: case 6761: case 6762:
    case 6763:
      return n <= 19;
    default:
      break;
  }
  return p4 >= 2200 && p4 <= 2204 && long_16_19;  // Mir
}

Check credit_card(std::string_view text, std::size_t start, std::size_t end) noexcept {
  return checked(text, start, end, [](const std::string& d) {
    return d.size() >= 13 && d.size() <= 19 && known_card_brand(d) && luhn_ok(d);
  });
}

Check ssn(std::string_view text, std::size_t start, std::size_t end) noexcept {
  return checked(text, start, end, [](const std::string& d) {
    if (d.size() != 9 || d == "078051120" || d == "219099999") return false;
    const std::string_view area(d.data(), 3), group(d.data() + 3, 2), serial(d.data() + 5, 4);
    return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000";
  });
}

Check nanp_phone(std::string_view text, std::size_t start, std::size_t end) noexcept {
  return checked(text, start, end, [](const std::string& all) {
    std::string_view d(all);
    if (d.size() == 11 && d[0] == '1') d.remove_prefix(1);
    if (d.size() != 10) return false;
    if (d[0] == '0' || d[0] == '1' || d[3] == '0' || d[3] == '1') return false;
    return !(d[1] == '1' && d[2] == '1');  // N11 codes (211, 911...) are service codes
  });
}

Check email_shape(std::string_view text, std::size_t start, std::size_t end,
                  std::string& tld) noexcept {
  if (start > end || end > text.size()) return Check::kUnknown;
  const std::string_view span = text.substr(start, end - start);
  if (!utf8::is_ascii(span)) return Check::kUnknown;
  const std::size_t at = span.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == span.size()) return Check::kInvalid;
  const std::string_view local = span.substr(0, at), domain = span.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return Check::kInvalid;
  }
  std::size_t labels = 0;
  std::string_view last;
  for (std::size_t from = 0;; ++labels) {
    const std::size_t dot = domain.find('.', from);
    const std::string_view label =
        domain.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from);
    if (label.empty() || label.front() == '-' || label.back() == '-') return Check::kInvalid;
    last = label;
    if (dot == std::string_view::npos) break;
    from = dot + 1;
  }
  if (labels + 1 < 2) return Check::kInvalid;
  try {
    tld.clear();
    for (const char c : last) {
      const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      if (lower < 'a' || lower > 'z') return Check::kInvalid;
      tld.push_back(lower);
    }
  } catch (...) {
    return Check::kUnknown;
  }
  return Check::kValid;
}

}  // namespace llmward::pii
