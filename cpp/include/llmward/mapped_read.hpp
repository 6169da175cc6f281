// Reading a file through a read-only mapping without the risk that makes
// mappings dangerous: if another process truncates the file while it is
// mapped, touching the lost pages raises SIGBUS, which kills the process by
// default. Here the reading thread is guarded: a SIGBUS it takes inside the
// guarded call returns it to the guard, and the read reports that the file
// shrank. A SIGBUS anywhere else goes to whatever handler was installed
// before (the default one kills, as it would have without us).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace llmward {

enum class MappedRead {
  Done,         // every byte of [0, size) was passed to consume
  Unavailable,  // nothing was read: the file cannot be mapped, or the SIGBUS
                // handler is not (or no longer) ours; read it another way
  Shrunk,       // the file lost bytes while mapped; what was consumed is partial
  Stopped,      // `between` returned false
  Failed,       // a later window could not be mapped (errno says why)
};

// Passes [0, size) of `fd` to `consume` in pieces of at most `piece` bytes,
// in order, and calls `between(bytes done)` after each piece, outside the
// guard. `consume` must be plain computation on the bytes: a SIGBUS leaves it
// by a jump that runs no destructors (hashing on the calling thread
// qualifies). Exceptions from either callback propagate.
MappedRead read_mapped(int fd, std::uint64_t size, std::size_t piece,
                       const std::function<void(const std::uint8_t*, std::size_t)>& consume,
                       const std::function<bool(std::uint64_t)>& between);

}  // namespace llmward
