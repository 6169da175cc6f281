// The on-disk database cache: a round trip, a miss, a corrupt file refused,
// an insecure directory refused, and the Scanner's use of it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "check.hpp"
#include "llmward/db_cache.hpp"
#include "llmward/scanner.hpp"

namespace db_cache = llmward::db_cache;

namespace {

llmward::Database compile(const char* pattern) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile(pattern, 0, HS_MODE_BLOCK, nullptr, &db, &error) != HS_SUCCESS) {
    hs_free_compile_error(error);
  }
  return llmward::Database(db);
}

std::string temp_directory() {
  char path[] = "/tmp/llmward-native-cache-XXXXXX";
  return mkdtemp(path) != nullptr ? std::string(path) + "/cache" : std::string();
}

void remove_tree(const std::string& directory) {
  const std::string command = "rm -rf '" + directory.substr(0, directory.rfind('/')) + "'";
  CHECK_EQ(std::system(command.c_str()), 0);
}

}  // namespace

TEST_CASE(db_cache_round_trip_miss_and_corruption) {
  const std::string directory = temp_directory();
  CHECK(!directory.empty());
  const auto key = llmward::Sha256::of("key");
  const llmward::Database db = compile("abc[0-9]+");
  CHECK(db != nullptr);
  CHECK(!db_cache::load(directory, key, 2).databases);
  CHECK(db_cache::store(directory, key, {db.get(), nullptr}));
  const auto loaded = db_cache::load(directory, key, 2);
  CHECK(loaded.databases && loaded.databases->size() == 2);
  if (loaded.databases && loaded.databases->size() == 2) {
    CHECK((*loaded.databases)[0] != nullptr);
    CHECK((*loaded.databases)[1] == nullptr);
  }
  CHECK(!db_cache::load(directory, key, 3).databases);  // wrong slot count
  // Flip a byte in the middle of the file: refused as corrupt.
  const std::string file = directory + "/" + [&] {
    static const char* digits = "0123456789abcdef";
    std::string name;
    for (auto b : key) name += std::string{digits[b >> 4], digits[b & 15]};
    return name;
  }() + ".hsdb";
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    CHECK(f.good());
    f.seekg(0, std::ios::end);
    const auto size = static_cast<long>(f.tellg());
    f.seekp(size / 2);
    f.put('\x5a' ^ static_cast<char>(size));
  }
  const auto corrupt = db_cache::load(directory, key, 2);
  CHECK(!corrupt.databases);
  CHECK(corrupt.corrupt);
  // Truncated to a few bytes: also corrupt, nothing read past the end.
  CHECK_EQ(truncate(file.c_str(), 5), 0);
  CHECK(db_cache::load(directory, key, 2).corrupt);
  // A directory others can write to is never used.
  CHECK_EQ(chmod(directory.c_str(), 0777), 0);
  CHECK(db_cache::load(directory, key, 2).insecure);
  remove_tree(directory);
}

TEST_CASE(db_cache_scanner_hits_after_a_miss) {
  const std::string directory = temp_directory();
  llmward::Rule rule;
  rule.id = "r";
  rule.pattern = "sk-[a-z]{4}";
  {
    const llmward::Scanner first({rule}, directory);
    CHECK(first.cache_status() == db_cache::Status::Miss);
  }
  const llmward::Scanner second({rule}, directory);
  CHECK(second.cache_status() == db_cache::Status::Hit);
  CHECK_EQ(second.scan("key sk-abcd").size(), 1u);
  CHECK_EQ(std::string(db_cache::to_string(db_cache::Status::Hit)).empty(), false);
  remove_tree(directory);
}
