// The checks behind the guard's card, SSN and North American phone
// validators, for ASCII text: the common case, answered without Python.
// Text with anything else in it gets kUnknown and the Python validator,
// which reads any Unicode digit and skips invisible characters, decides.
// Both implement the same rules; tests compare them on random input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace llmward::pii {

enum class Check { kInvalid = 0, kValid = 1, kUnknown = 2 };

// 13-19 digits, Luhn-valid, with a known issuer prefix for their length, and
// not part of a longer number.
Check credit_card(std::string_view text, std::size_t start, std::size_t end) noexcept;
// A US SSN: area not 000, 666 or 900-999, group not 00, serial not 0000, not
// one of the two voided advertising numbers, and not part of a longer number.
Check ssn(std::string_view text, std::size_t start, std::size_t end) noexcept;
// Ten digits (eleven with a leading 1): area and exchange start with 2-9, the
// area is not an N11 service code, and not part of a longer number.
Check nanp_phone(std::string_view text, std::size_t start, std::size_t end) noexcept;

// The shape of an e-mail address in text[start, end): a local part that
// neither starts nor ends with '.' nor holds "..", a domain of two or more
// labels that are not empty and neither start nor end with '-', and an
// alphabetic top-level domain, returned lower-cased in `tld` (the caller
// compares it with the file suffixes that are not addresses, "icon@2x.png").
Check email_shape(std::string_view text, std::size_t start, std::size_t end,
                  std::string& tld) noexcept;

bool luhn_ok(std::string_view digits) noexcept;
// True when the issuer prefix of a card number fits its length.
bool known_card_brand(std::string_view digits) noexcept;

}  // namespace llmward::pii
