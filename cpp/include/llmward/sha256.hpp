// Incremental SHA-256 through OpenSSL's EVP interface (SHA-NI where present).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

struct evp_md_ctx_st;

namespace llmward {

class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Appends the length first, so concatenated fields cannot collide.
  void update_field(std::string_view data);
  Digest finish();
  // The digest of what was hashed so far; hashing may go on.
  Digest peek() const;
  // Same state, independent from here on.
  void copy_from(const Sha256& other);

  static Digest of(std::string_view data);

 private:
  evp_md_ctx_st* ctx_;
};

}  // namespace llmward
