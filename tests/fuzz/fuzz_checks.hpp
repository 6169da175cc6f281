// Shared helpers of the libFuzzer harnesses: a failed invariant aborts with
// a message, which libFuzzer records as a crash and saves the input.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fuzz {

[[noreturn]] inline void fail(const char* what, std::size_t a = 0, std::size_t b = 0) {
  std::fprintf(stderr, "invariant violated: %s (%zu, %zu)\n", what, a, b);
  std::abort();
}

inline void require(bool condition, const char* what, std::size_t a = 0, std::size_t b = 0) {
  if (!condition) fail(what, a, b);
}

// True when byte offset `at` of `text` starts a character (or is its end).
inline bool is_boundary(std::string_view text, std::size_t at) {
  return at == 0 || at == text.size() ||
         (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) != 0x80);
}

}  // namespace fuzz
