#include "llmward/sha256.hpp"

#include <openssl/evp.h>

#include <new>
#include <stdexcept>

namespace llmward {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::runtime_error("OpenSSL: SHA-256 unavailable");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(ctx_, data, size) != 1) throw std::runtime_error("OpenSSL: SHA-256 update");
}

void Sha256::update_field(std::string_view data) {
  const std::uint64_t size = data.size();
  update(&size, sizeof size);
  update(data);
}

Sha256::Digest Sha256::finish() {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &size) != 1 || size != digest.size()) {
    throw std::runtime_error("OpenSSL: SHA-256 final");
  }
  return digest;
}

Sha256::Digest Sha256::peek() const {
  Sha256 copy;
  copy.copy_from(*this);
  return copy.finish();
}

void Sha256::copy_from(const Sha256& other) {
  if (EVP_MD_CTX_copy_ex(ctx_, other.ctx_) != 1) throw std::runtime_error("OpenSSL: SHA-256 copy");
}

Sha256::Digest Sha256::of(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finish();
}

}  // namespace llmward
