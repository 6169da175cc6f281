// Digests of one file in a single read: a reader fills large aligned buffers
// and each requested digest consumes them on its own thread, so the slowest
// digest bounds the time.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace llmward {

struct FileDigests {
  std::optional<std::array<std::uint8_t, 32>> sha256;
  std::optional<std::array<std::uint8_t, 32>> blake3;
  std::uint64_t bytes = 0;
};

// An OS error on a file: errno and the path, for the bindings to raise the
// matching OSError subclass; `reason` replaces errno's own text when set.
class FileError : public std::runtime_error {
 public:
  FileError(int code, const std::string& path, const std::string& what,
            std::string reason = {})
      : std::runtime_error(what), code_(code), path_(path), reason_(std::move(reason)) {}
  int code() const noexcept { return code_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  int code_;
  std::string path_;
  std::string reason_;
};

// Thrown when the progress callback asks to stop.
class HashCancelled : public std::runtime_error {
 public:
  HashCancelled() : std::runtime_error("hashing cancelled") {}
};

struct HashOptions {
  bool sha256 = true;
  bool blake3 = true;
  unsigned threads = 0;  // all cores when 0; BLAKE3 gets the ones SHA-256 does not use
  // Called on the calling thread every kReadBufferBytes and at the end with
  // (bytes read, file size at open); returning false stops the hash
  // (HashCancelled).
  std::function<bool(std::uint64_t, std::uint64_t)> progress;
};

// Read size (BLAKE3 alone on one thread reads less at a time); progress is
// reported every kReadBufferBytes.
constexpr std::size_t kReadBufferBytes = 8u << 20;

FileDigests hash_file(const std::string& path, const HashOptions& options);

}  // namespace llmward
