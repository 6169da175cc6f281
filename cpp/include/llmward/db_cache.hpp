// On-disk cache of compiled Hyperscan databases. A file is used only when its
// key, its checksum and every database in it check out; anything else is
// reported as corrupt and the caller recompiles and overwrites it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "llmward/hs_handles.hpp"
#include "llmward/sha256.hpp"

namespace llmward::db_cache {

// Cache files kept per directory: storing one more removes the least
// recently used (a hit counts as a use).
inline constexpr std::size_t kMaxEntries = 8;

enum class Status { Disabled, Hit, Miss, Rebuilt, Insecure, WriteFailed };
const char* to_string(Status status) noexcept;

// $LLMWARD_CACHE_DIR, else $XDG_CACHE_HOME/llmward/hyperscan, else
// ~/.cache/llmward/hyperscan; empty when none can be determined.
std::string default_directory();

struct LoadResult {
  std::optional<std::vector<Database>> databases;  // set on a hit
  bool corrupt = false;                            // a file existed but failed a check
  bool insecure = false;                           // directory writable by others: unused
};

// `expected` is the number of database slots; empty slots (no rules of that
// kind) are stored as zero-length entries and come back as null.
LoadResult load(const std::string& directory, const Sha256::Digest& key, std::size_t expected);

// Atomically writes the databases (null entries allowed), then removes the
// least recently used files beyond kMaxEntries. False on failure.
bool store(const std::string& directory, const Sha256::Digest& key,
           const std::vector<const hs_database_t*>& databases);

}  // namespace llmward::db_cache
