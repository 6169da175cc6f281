// SHA-256 against the FIPS 180-2 examples, BLAKE3 against the official test
// vectors (tests/data/blake3_test_vectors.json) in every SIMD variant this CPU
// runs, and hash_file on a temporary file.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "check.hpp"
#include "llmward/blake3.hpp"
#include "llmward/file_hash.hpp"
#include "llmward/sha256.hpp"

using llmward::Blake3;
using llmward::Sha256;

namespace {

std::string to_hex(const std::uint8_t* bytes, std::size_t size) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}
template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& bytes) {
  return to_hex(bytes.data(), N);
}

// The official vectors' input: 0, 1, ..., 250 repeated.
std::string vector_input(std::size_t length) {
  std::string out(length, '\0');
  for (std::size_t i = 0; i < length; ++i) out[i] = static_cast<char>(i % 251);
  return out;
}

struct Blake3Case {
  std::size_t input_len;
  std::string hash, keyed_hash, derive_key;
};

// The string value of "field" at or after `from` (the file's values need no unescaping).
std::string string_field(const std::string& json, const std::string& field, std::size_t from) {
  const std::size_t key = json.find("\"" + field + "\"", from);
  if (key == std::string::npos) return {};
  const std::size_t open = json.find('"', json.find(':', key) + 1);
  return json.substr(open + 1, json.find('"', open + 1) - open - 1);
}

std::vector<Blake3Case> load_blake3_cases(std::string& key, std::string& context) {
  std::ifstream file(std::string(LLMWARD_TEST_DATA_DIR) + "/blake3_test_vectors.json");
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string json = buffer.str();
  key = string_field(json, "key", 0);
  context = string_field(json, "context_string", 0);
  std::vector<Blake3Case> cases;
  for (std::size_t at = json.find("\"input_len\""); at != std::string::npos;
       at = json.find("\"input_len\"", at + 1)) {
    Blake3Case c;
    c.input_len = std::strtoull(json.c_str() + json.find(':', at) + 1, nullptr, 10);
    c.hash = string_field(json, "hash", at);
    c.keyed_hash = string_field(json, "keyed_hash", at);
    c.derive_key = string_field(json, "derive_key", at);
    cases.push_back(c);
  }
  return cases;
}

std::string xof(const Blake3& hasher, std::size_t length, std::uint64_t seek = 0) {
  std::vector<std::uint8_t> out(length);
  hasher.finalize(out.data(), length, seek);
  return to_hex(out.data(), length);
}

// Feeds `input` in pieces of irregular sizes.
void feed_unevenly(Blake3& hasher, const std::string& input) {
  std::size_t at = 0;
  for (std::size_t step = 1; at < input.size(); step = step * 3 % 1031 + 1) {
    const std::size_t n = std::min(step, input.size() - at);
    hasher.update(input.data() + at, n);
    at += n;
  }
}

}  // namespace

TEST_CASE(sha256_fips_vectors) {
  CHECK_EQ(to_hex(Sha256::of("")),
           std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  CHECK_EQ(to_hex(Sha256::of("abc")),
           std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  CHECK_EQ(to_hex(Sha256::of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
           std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
  CHECK_EQ(to_hex(Sha256::of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                             "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
           std::string("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
  Sha256 million;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(thousand);
  const auto peeked = million.peek();
  CHECK_EQ(to_hex(million.finish()),
           std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
  CHECK_EQ(to_hex(peeked),
           std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
  Sha256 a;
  a.update("ab");
  Sha256 b;
  b.copy_from(a);
  b.update("c");
  CHECK_EQ(to_hex(b.finish()), to_hex(Sha256::of("abc")));
  // update_field prefixes the length: ("ab","c") and ("a","bc") differ.
  Sha256 f1, f2;
  f1.update_field("ab");
  f1.update_field("c");
  f2.update_field("a");
  f2.update_field("bc");
  CHECK(f1.finish() != f2.finish());
}

TEST_CASE(blake3_official_vectors_in_every_simd_variant) {
  std::string key;
  std::string context;
  const auto cases = load_blake3_cases(key, context);
  CHECK_EQ(cases.size(), 22u);
  CHECK_EQ(key.size(), Blake3::kKeyLen);
  const std::string original = Blake3::simd();
  for (const std::string& simd : Blake3::supported_simd()) {
    CHECK(Blake3::select_simd(simd));
    for (const auto& c : cases) {
      const std::string input = vector_input(c.input_len);
      Blake3 plain;
      plain.update(input.data(), input.size());
      CHECK_EQ(xof(plain, c.hash.size() / 2), c.hash);
      CHECK_EQ(to_hex(plain.digest()), c.hash.substr(0, 64));
      // A seek into the extended output gives its tail.
      CHECK_EQ(xof(plain, 31, 100), c.hash.substr(200, 62));
      Blake3 keyed(reinterpret_cast<const std::uint8_t*>(key.data()));
      feed_unevenly(keyed, input);
      CHECK_EQ(xof(keyed, c.keyed_hash.size() / 2), c.keyed_hash);
      Blake3 derived = Blake3::derive_key(context);
      derived.update(input.data(), input.size());
      CHECK_EQ(xof(derived, c.derive_key.size() / 2), c.derive_key);
    }
  }
  CHECK(!Blake3::select_simd("no-such-variant"));
  CHECK(Blake3::select_simd(original));
}

TEST_CASE(blake3_threads_give_the_same_digest) {
  const std::string input = vector_input(3 * Blake3::kMinBytesPerThread + 12345);
  Blake3 one;
  one.update(input.data(), input.size());
  for (unsigned threads : {2u, 4u}) {
    Blake3 many;
    many.set_threads(threads);
    many.update(input.data(), input.size());
    CHECK_EQ(to_hex(many.digest()), to_hex(one.digest()));
  }
}

TEST_CASE(file_hash_of_a_temporary_file) {
  char path[] = "/tmp/llmward-native-XXXXXX";
  const int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  const std::string content = vector_input(llmward::kReadBufferBytes + 777);
  CHECK_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  Blake3 expected_blake3;
  expected_blake3.update(content.data(), content.size());

  llmward::HashOptions both;
  std::vector<std::uint64_t> progress;
  both.progress = [&](std::uint64_t done, std::uint64_t total) {
    progress.push_back(done);
    return total == content.size();
  };
  const auto digests = llmward::hash_file(path, both);
  CHECK_EQ(digests.bytes, content.size());
  CHECK(digests.sha256 && digests.blake3);
  if (digests.sha256) CHECK_EQ(to_hex(*digests.sha256), to_hex(Sha256::of(content)));
  if (digests.blake3) CHECK_EQ(to_hex(*digests.blake3), to_hex(expected_blake3.digest()));
  CHECK(!progress.empty() && progress.back() == content.size());

  llmward::HashOptions blake3_alone;  // one thread: read through the mapping
  blake3_alone.sha256 = false;
  blake3_alone.threads = 1;
  const auto mapped = llmward::hash_file(path, blake3_alone);
  CHECK(!mapped.sha256 && mapped.blake3);
  if (mapped.blake3) CHECK_EQ(to_hex(*mapped.blake3), to_hex(expected_blake3.digest()));

  llmward::HashOptions cancelled;
  cancelled.progress = [](std::uint64_t, std::uint64_t) { return false; };
  CHECK_THROWS(llmward::hash_file(path, cancelled), llmward::HashCancelled, "cancelled");
  std::remove(path);
  try {
    llmward::hash_file(path, both);
    CHECK(false);
  } catch (const llmward::FileError& error) {
    CHECK_EQ(error.code(), ENOENT);
    CHECK_EQ(error.path(), std::string(path));
  }
}
