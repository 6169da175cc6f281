#include "llmward/file_hash.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "llmward/blake3.hpp"
#include "llmward/mapped_read.hpp"
#include "llmward/sha256.hpp"

namespace llmward {
namespace {

constexpr std::size_t kLargeBuffers = 3;  // of kReadBufferBytes
constexpr std::size_t kSmallBuffers = 8;  // of kSmallBuffer

[[noreturn]] void throw_errno(const std::string& path, const char* doing) {
  const int code = errno;
  throw FileError(code, path, std::string(doing) + " " + path + ": " + std::strerror(code));
}

class File {
 public:
  explicit File(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw_errno(path, "cannot open");
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

// Fills `buffer` unless the file ends first; returns the bytes read.
std::size_t read_full(int fd, std::uint8_t* buffer, std::size_t size, const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, buffer + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(path, "cannot read");
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

struct FreeDeleter {
  void operator()(std::uint8_t* p) const noexcept { std::free(p); }
};

struct Slot {
  std::unique_ptr<std::uint8_t, FreeDeleter> data;
  std::size_t length = 0;
  std::size_t pending = 0;  // consumers yet to finish with it
};

// Buffers pass from the reader to every consumer in order; a buffer is
// refilled once all consumers are done with it.
class Pipeline {
 public:
  Pipeline(std::size_t consumers, std::size_t buffers, std::size_t buffer_bytes)
      : consumers_(consumers), count_(buffers), buffer_bytes_(buffer_bytes) {
    for (std::size_t i = 0; i < count_; ++i) {
      Slot& slot = slots_[i];
      void* p = std::aligned_alloc(4096, buffer_bytes_);
      if (p == nullptr) throw std::bad_alloc();
      slot.data.reset(static_cast<std::uint8_t*>(p));
    }
  }

  std::size_t buffer_bytes() const noexcept { return buffer_bytes_; }

  // Reader: the buffer for `sequence` once free, or nullptr after a failure.
  std::uint8_t* acquire(std::uint64_t sequence) {
    Slot& slot = slots_[sequence % count_];
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return slot.pending == 0 || failed_; });
    return failed_ ? nullptr : slot.data.get();
  }
  void publish(std::uint64_t sequence, std::size_t length) {
    update([&] {
      Slot& slot = slots_[sequence % count_];
      slot.length = length;
      slot.pending = consumers_;
      published_ = sequence + 1;
    });
  }
  void finish() { update([&] { finished_ = true; }); }
  void fail() { update([&] { failed_ = true; }); }

  // Consumer: the slot with this sequence number, or nullptr at the end.
  const Slot* wait_for(std::uint64_t sequence) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return published_ > sequence || finished_ || failed_; });
    if (failed_ || published_ <= sequence) return nullptr;
    return &slots_[sequence % count_];
  }
  void release(std::uint64_t sequence) {
    update([&] { --slots_[sequence % count_].pending; });
  }

 private:
  template <class F>
  void update(F change) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      change();
    }
    changed_.notify_all();
  }

  std::size_t consumers_;
  std::size_t count_;
  std::size_t buffer_bytes_;
  Slot slots_[kSmallBuffers > kLargeBuffers ? kSmallBuffers : kLargeBuffers];
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t published_ = 0;
  bool finished_ = false;
  bool failed_ = false;
};

class Consumer {
 public:
  Consumer(Pipeline& pipeline, std::function<void(const std::uint8_t*, std::size_t)> consume)
      : pipeline_(pipeline), consume_(std::move(consume)), thread_([this] { run(); }) {}
  void join() { thread_.join(); }
  std::exception_ptr error() const { return error_; }

 private:
  void run() {
    for (std::uint64_t sequence = 0;; ++sequence) {
      const Slot* slot = pipeline_.wait_for(sequence);
      if (slot == nullptr) return;
      try {
        consume_(slot->data.get(), slot->length);
      } catch (...) {
        error_ = std::current_exception();
        pipeline_.fail();
        return;
      }
      pipeline_.release(sequence);
    }
  }

  Pipeline& pipeline_;
  std::function<void(const std::uint8_t*, std::size_t)> consume_;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once the members it uses exist
};

// For BLAKE3 alone on one thread: buffers small enough to be hashed while
// still in a nearby cache, and enough of them to keep the reader ahead
// (measured on the AMD VM: about 0.8x the PyPI blake3 with 8 MiB buffers,
// parity with these). Otherwise large ones: BLAKE3 split across threads needs
// them, and SHA-256 ran no faster with small ones (on either VM).
constexpr std::size_t kSmallBuffer = 512u << 10;

// SHA-256 over a buffer the reader thread filled on the other core: the
// hardware prefetcher alone left OpenSSL waiting on memory (1.2 GB/s from
// these buffers on the Intel VM, 1.9 from its L1). Each 16 KiB piece is
// hashed while the lines 256 KiB ahead are requested: 1.75 GB/s there.
constexpr std::size_t kShaPiece = 16u << 10;
constexpr std::size_t kShaPrefetchDistance = 256u << 10;

void sha256_prefetched(Sha256& sha256, const std::uint8_t* data, std::size_t size) {
  auto prefetch = [&](std::size_t from, std::size_t to) {
    for (; from < to; from += 64) __builtin_prefetch(data + from, 0, 3);
  };
  prefetch(0, std::min(size, kShaPrefetchDistance));
  for (std::size_t offset = 0; offset < size; offset += kShaPiece) {
    const std::size_t n = std::min(kShaPiece, size - offset);
    const std::size_t ahead = offset + kShaPrefetchDistance;
    if (ahead < size) prefetch(ahead, std::min(size, ahead + n));
    sha256.update(data + offset, n);
  }
}

// With LLMWARD_HASH_READ=mmap, BLAKE3 alone on one thread hashes the page
// cache through a guarded mapping (mapped_read.hpp) instead: no copy, and no
// reader thread competing for the cores. Not the default: on the Intel VM of
// 2026-11-29 faulting the mapping in cost more than the reader's copy (3.3
// against 5.3 GB/s), while on the AMD VM before it the mapping was the faster.
// Small files (and /proc files, whose size reads 0) always use read().
constexpr std::uint64_t kMinMappedBytes = 1u << 20;

bool mapped_reads_requested() {
  const char* choice = std::getenv("LLMWARD_HASH_READ");
  return choice != nullptr && std::strcmp(choice, "mmap") == 0;
}

[[noreturn]] void throw_shrunk(const std::string& path) {
  throw FileError(EIO, path, "file shrank while being hashed: " + path,
                  "file shrank while being hashed");
}

// The mapped path; nullopt when the file cannot be read that way.
std::optional<FileDigests> hash_mapped_blake3(int fd, std::uint64_t size, const std::string& path,
                                              const HashOptions& options) {
  Blake3 blake3;
  std::uint64_t reported = 0;
  const MappedRead result = read_mapped(
      fd, size, kReadBufferBytes,
      [&](const std::uint8_t* p, std::size_t n) { blake3.update(p, n); },
      [&](std::uint64_t done) {
        if (!options.progress || (done - reported < kReadBufferBytes && done < size)) return true;
        reported = done;
        return options.progress(done, size);
      });
  switch (result) {
    case MappedRead::Unavailable:
      return std::nullopt;
    case MappedRead::Shrunk:
      throw_shrunk(path);
    case MappedRead::Failed:
      throw_errno(path, "cannot map");
    case MappedRead::Stopped:
      throw HashCancelled();
    case MappedRead::Done:
      break;
  }
  FileDigests out;
  out.bytes = size;
  out.blake3 = blake3.digest();
  return out;
}

}  // namespace

FileDigests hash_file(const std::string& path, const HashOptions& options) {
  if (!options.sha256 && !options.blake3) throw std::invalid_argument("no digest requested");
  File file(path);
  struct stat info {};
  if (::fstat(file.fd(), &info) != 0) throw_errno(path, "cannot stat");
  if (!S_ISREG(info.st_mode)) {
    throw FileError(S_ISDIR(info.st_mode) ? EISDIR : EINVAL, path, "not a regular file: " + path);
  }
  ::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
  const auto size = static_cast<std::uint64_t>(info.st_size);

  unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, threads);
  Sha256 sha256;
  Blake3 blake3;
  const unsigned blake3_threads = std::max(1u, threads - (options.sha256 ? 1u : 0u));
  blake3.set_threads(blake3_threads);

  // This thread reads; each digest consumes the buffers on its own thread.
  const bool small = !options.sha256 && blake3_threads == 1;  // see kSmallBuffer
  if (small && size >= kMinMappedBytes && mapped_reads_requested()) {
    if (auto digests = hash_mapped_blake3(file.fd(), size, path, options)) return *digests;
  }
  Pipeline pipeline((options.sha256 ? 1 : 0) + (options.blake3 ? 1 : 0),
                    small ? kSmallBuffers : kLargeBuffers, small ? kSmallBuffer : kReadBufferBytes);
  const std::size_t buffer_bytes = pipeline.buffer_bytes();
  std::uint64_t reported = 0;
  std::vector<std::unique_ptr<Consumer>> consumers;
  auto join_all = [&] {
    for (auto& c : consumers) c->join();
  };
  std::uint64_t total = 0;
  bool cancelled = false;
  try {
    if (options.sha256) {
      consumers.push_back(std::make_unique<Consumer>(
          pipeline,
          [&](const std::uint8_t* p, std::size_t n) { sha256_prefetched(sha256, p, n); }));
    }
    if (options.blake3) {
      consumers.push_back(std::make_unique<Consumer>(
          pipeline, [&](const std::uint8_t* p, std::size_t n) { blake3.update(p, n); }));
    }
    for (std::uint64_t sequence = 0;; ++sequence) {
      std::uint8_t* buffer = pipeline.acquire(sequence);
      if (buffer == nullptr) break;  // a consumer failed
      const std::size_t n = read_full(file.fd(), buffer, buffer_bytes, path);
      if (n > 0) pipeline.publish(sequence, n);
      total += n;
      const bool last = n < buffer_bytes;
      // Progress every 8 MiB whatever the buffer size, and at the end.
      if (options.progress && total > reported &&
          (last || total - reported >= kReadBufferBytes)) {
        reported = total;
        if (!options.progress(total, size)) {
          cancelled = true;
          pipeline.fail();
          break;
        }
      }
      if (last) {
        pipeline.finish();
        break;
      }
    }
  } catch (...) {
    pipeline.fail();
    join_all();
    throw;
  }
  join_all();
  for (auto& c : consumers) {
    if (c->error()) std::rethrow_exception(c->error());
  }
  if (cancelled) throw HashCancelled();
  // What was hashed is neither the file as opened nor as it is now.
  if (total < size) throw_shrunk(path);
  FileDigests out;
  out.bytes = total;
  if (options.sha256) out.sha256 = sha256.finish();
  if (options.blake3) out.blake3 = blake3.digest();
  return out;
}

}  // namespace llmward
