#include "llmward/db_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

namespace llmward::db_cache {
namespace {

constexpr char kMagic[8] = {'L', 'W', 'H', 'S', 'D', 'B', '\x01', '\n'};
constexpr std::uint64_t kMaxFileSize = 1ULL << 31;

std::string hex(const Sha256::Digest& digest) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : digest) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

std::string file_path(const std::string& directory, const Sha256::Digest& key) {
  return directory + "/" + hex(key) + ".hsdb";
}

// Creates missing parents with mode 0700.
bool make_directories(const std::string& path) {
  std::string partial;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
  }
  return true;
}

// A cache directory others can write to could hold planted databases.
bool is_private_directory(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  return st.st_uid == geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// A cache file's name: 64 hex digits and ".hsdb".
bool is_cache_file_name(const char* name) {
  const std::size_t length = std::strlen(name);
  if (length != 64 + 5 || std::strcmp(name + 64, ".hsdb") != 0) return false;
  return std::all_of(name, name + 64, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// Keeps the kMaxEntries most recently used cache files (a hit refreshes a
// file's modification time), so rule sets that changed do not pile up.
void prune(const std::string& directory) {
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return;
  std::vector<std::pair<struct timespec, std::string>> files;
  while (const dirent* entry = readdir(dir)) {
    if (!is_cache_file_name(entry->d_name)) continue;
    const std::string path = directory + "/" + entry->d_name;
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
      files.emplace_back(st.st_mtim, path);
    }
  }
  closedir(dir);
  if (files.size() <= kMaxEntries) return;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    if (a.first.tv_sec != b.first.tv_sec) return a.first.tv_sec > b.first.tv_sec;
    return a.first.tv_nsec > b.first.tv_nsec;
  });
  for (std::size_t i = kMaxEntries; i < files.size(); ++i) unlink(files[i].second.c_str());
}

template <typename T>
bool read_value(const std::string& data, std::size_t& pos, T& value) {
  if (data.size() - pos < sizeof(T)) return false;
  std::memcpy(&value, data.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}

}  // namespace

const char* to_string(Status status) noexcept {
  switch (status) {
    case Status::Disabled: return "disabled";
    case Status::Hit: return "hit";
    case Status::Miss: return "miss";
    case Status::Rebuilt: return "rebuilt";
    case Status::Insecure: return "insecure";
    case Status::WriteFailed: return "write_failed";
  }
  return "unknown";
}

std::string default_directory() {
  if (const char* dir = std::getenv("LLMWARD_CACHE_DIR")) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/llmward/hyperscan";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.cache/llmward/hyperscan";
  }
  return {};
}

LoadResult load(const std::string& directory, const Sha256::Digest& key, std::size_t expected) {
  LoadResult result;
  if (!is_private_directory(directory)) {
    struct stat st {};
    result.insecure = stat(directory.c_str(), &st) == 0;
    return result;
  }
  std::ifstream in(file_path(directory, key), std::ios::binary | std::ios::ate);
  if (!in) return result;
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<std::uint64_t>(size) > kMaxFileSize) {
    result.corrupt = true;
    return result;
  }
  std::string data(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(data.data(), size)) {
    result.corrupt = true;
    return result;
  }
  result.corrupt = true;  // until every check below has passed
  const std::size_t body = data.size() - std::min<std::size_t>(data.size(), 32);
  if (data.size() < sizeof kMagic + key.size() + 4 + 32) return result;
  const auto checksum = Sha256::of(std::string_view(data.data(), body));
  if (std::memcmp(checksum.data(), data.data() + body, 32) != 0) return result;
  if (std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) return result;
  if (std::memcmp(data.data() + sizeof kMagic, key.data(), key.size()) != 0) return result;

  std::size_t pos = sizeof kMagic + key.size();
  std::uint32_t count = 0;
  if (!read_value(data, pos, count) || count != expected) return result;
  std::vector<Database> databases;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t length = 0;
    if (!read_value(data, pos, length) || length > body - pos) return result;
    if (length == 0) {
      databases.emplace_back();
      continue;
    }
    hs_database_t* db = nullptr;
    if (hs_deserialize_database(data.data() + pos, length, &db) != HS_SUCCESS) return result;
    databases.emplace_back(db);
    pos += length;
  }
  if (pos != body) return result;
  result.corrupt = false;
  result.databases = std::move(databases);
  utimensat(AT_FDCWD, file_path(directory, key).c_str(), nullptr, 0);  // recently used
  return result;
}

bool store(const std::string& directory, const Sha256::Digest& key,
           const std::vector<const hs_database_t*>& databases) {
  if (!make_directories(directory) || !is_private_directory(directory)) return false;
  std::string data(kMagic, sizeof kMagic);
  data.append(reinterpret_cast<const char*>(key.data()), key.size());
  const auto count = static_cast<std::uint32_t>(databases.size());
  data.append(reinterpret_cast<const char*>(&count), sizeof count);
  for (const hs_database_t* db : databases) {
    char* bytes = nullptr;
    std::size_t length = 0;
    if (db != nullptr && hs_serialize_database(db, &bytes, &length) != HS_SUCCESS) return false;
    const std::uint64_t length64 = length;
    data.append(reinterpret_cast<const char*>(&length64), sizeof length64);
    if (bytes != nullptr) {
      data.append(bytes, length);
      std::free(bytes);  // hs_serialize_database allocates with the default misc allocator
    }
  }
  const auto checksum = Sha256::of(data);
  data.append(reinterpret_cast<const char*>(checksum.data()), checksum.size());

  std::random_device entropy;
  const std::string final_path = file_path(directory, key);
  const std::string temp_path = final_path + ".tmp" + std::to_string(entropy());
  const int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      close(fd);
      unlink(temp_path.c_str());
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  if (close(fd) != 0 || rename(temp_path.c_str(), final_path.c_str()) != 0) {
    unlink(temp_path.c_str());
    return false;
  }
  prune(directory);
  return true;
}

}  // namespace llmward::db_cache
