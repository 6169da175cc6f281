#include "llmward/mapped_read.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <csetjmp>
#include <csignal>
#include <mutex>

namespace llmward {
namespace {

struct BusGuard {
  sigjmp_buf resume;
};

// The guard of the read in progress on this thread, if any. Initial-exec TLS:
// reading it in the signal handler then needs no call into the loader.
thread_local BusGuard* t_guard __attribute__((tls_model("initial-exec"))) = nullptr;

struct sigaction g_previous {};
std::once_flag g_install_once;
bool g_installed = false;

void on_sigbus(int signal, siginfo_t* info, void* context) {
  if (BusGuard* guard = t_guard) {
    t_guard = nullptr;
    siglongjmp(guard->resume, 1);
  }
  // Not a guarded read: behave as if this handler had never been installed.
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(signal, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(signal);
  } else {
    std::signal(SIGBUS, SIG_DFL);  // a fault cannot be ignored: the default action
    std::raise(SIGBUS);
  }
}

// True when on_sigbus is SIGBUS's handler now. It is installed once; if
// something has replaced it since, mapped reads are declined rather than
// taking the handler back.
bool handler_in_place() {
  std::call_once(g_install_once, [] {
    if (sigaction(SIGBUS, nullptr, &g_previous) != 0) return;
    struct sigaction ours {};
    ours.sa_sigaction = on_sigbus;
    sigemptyset(&ours.sa_mask);
    ours.sa_flags = SA_SIGINFO | SA_NODEFER;  // NODEFER: not blocked after the jump
    g_installed = sigaction(SIGBUS, &ours, nullptr) == 0;
  });
  struct sigaction current {};
  return g_installed && sigaction(SIGBUS, nullptr, &current) == 0 &&
         (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_sigbus;
}

// consume(data, size) with this thread guarded; false if a SIGBUS cut it short.
bool guarded(const std::function<void(const std::uint8_t*, std::size_t)>& consume,
             const std::uint8_t* data, std::size_t size) {
  BusGuard guard;
  if (sigsetjmp(guard.resume, 0) != 0) return false;  // the handler cleared t_guard
  t_guard = &guard;
  try {
    consume(data, size);
  } catch (...) {
    t_guard = nullptr;
    throw;
  }
  t_guard = nullptr;
  return true;
}

class Mapping {
 public:
  Mapping(int fd, std::uint64_t offset, std::size_t length)
      : length_(length),
        data_(::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset))) {}
  ~Mapping() {
    if (ok()) ::munmap(data_, length_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  bool ok() const noexcept { return data_ != MAP_FAILED; }
  const std::uint8_t* data() const noexcept { return static_cast<const std::uint8_t*>(data_); }

 private:
  std::size_t length_;
  void* data_;
};

// Mapped a window at a time, each unmapped once read, so page tables stay
// bounded. Pages fault in on first touch, several at a time around each
// fault; that measured faster here than populating a window up front
// (MADV_POPULATE_READ), and windows of 64 MiB slower than of 256 MiB.
constexpr std::uint64_t kWindowBytes = 256u << 20;

}  // namespace

MappedRead read_mapped(int fd, std::uint64_t size, std::size_t piece,
                       const std::function<void(const std::uint8_t*, std::size_t)>& consume,
                       const std::function<bool(std::uint64_t)>& between) {
  if (size == 0 || piece == 0 || !handler_in_place()) return MappedRead::Unavailable;
  std::uint64_t done = 0;
  while (done < size) {
    const auto length = static_cast<std::size_t>(std::min(kWindowBytes, size - done));
    const Mapping window(fd, done, length);
    if (!window.ok()) return done == 0 ? MappedRead::Unavailable : MappedRead::Failed;
    for (std::size_t offset = 0; offset < length;) {
      const std::size_t n = std::min(piece, length - offset);
      if (!guarded(consume, window.data() + offset, n)) return MappedRead::Shrunk;
      offset += n;
      done += n;
      if (!between(done)) return MappedRead::Stopped;
    }
  }
  return MappedRead::Done;
}

}  // namespace llmward
