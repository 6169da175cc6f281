// Scans text that arrives in chunks (model output) and finds matches that
// span chunk boundaries, with offsets in the whole stream.
//
// A match is released only once no later input can change it: Hyperscan may
// still report a longer span of the same rule that contains it, so a match of
// a rule whose longest match is W bytes is held until the stream is W bytes
// (plus a small look-ahead margin) past its start. Rules with unbounded width
// release at close(). The concatenation of everything feed() and close()
// return equals Scanner::scan of the whole text.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "llmward/scanner.hpp"

namespace llmward {

// Byte-to-code-point offsets over a stream of UTF-8 chunks.
class StreamOffsetMap {
 public:
  void append(std::string_view utf8);
  std::uint64_t code_points_at(std::uint64_t byte_offset) const;
  // Drops chunks that end at or before byte_offset; they are never asked for again.
  void forget_before(std::uint64_t byte_offset);

 private:
  struct Chunk {
    std::uint64_t byte_start;
    std::uint64_t byte_length;
    std::uint64_t code_point_start;
    std::string non_ascii;  // the chunk's bytes when it is not pure ASCII
  };
  std::vector<Chunk> chunks_;
  std::size_t first_ = 0;  // chunks before this index are forgotten
  std::uint64_t bytes_ = 0;
  std::uint64_t code_points_ = 0;
};

class StreamScanner {
 public:
  // Bytes Hyperscan may look past a match end before reporting it (\b, $).
  static constexpr std::uint64_t kLookAhead = 16;

  explicit StreamScanner(std::shared_ptr<const Scanner> scanner);
  ~StreamScanner();
  StreamScanner(const StreamScanner&) = delete;
  StreamScanner& operator=(const StreamScanner&) = delete;

  // `utf8` must be valid UTF-8 ending on a character boundary. Returns the
  // matches that became final, with code-point offsets from the stream start.
  std::vector<RawMatch> feed(std::string_view utf8);
  // Ends the stream and returns every remaining match. Idempotent.
  std::vector<RawMatch> close();

 private:
  struct Pending {
    RawMatch match;
    bool emitted;
  };

  void write(std::string_view chunk, hs_scratch_t* scratch);
  std::vector<RawMatch> release(bool at_close);
  bool is_final(const RawMatch& m) const;

  std::shared_ptr<const Scanner> scanner_;
  std::mutex mutex_;
  hs_stream_t* literal_stream_ = nullptr;
  hs_stream_t* regex_stream_ = nullptr;
  std::vector<RawMatch> incoming_;
  std::vector<Pending> pending_;
  StreamOffsetMap offsets_;
  std::uint64_t bytes_fed_ = 0;
  std::uint64_t widest_rule_ = 0;  // kUnbounded when any rule is unbounded
  bool closed_ = false;
};

}  // namespace llmward
