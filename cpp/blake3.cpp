// The BLAKE3 tree: chunks of 1 KiB, parents over pairs of chaining values,
// merged with a stack as input arrives. Large inputs are hashed a whole
// aligned subtree at a time: its chunks many at once through the SIMD
// backend, its parents level by level, its halves on pool workers.
#include "llmward/blake3.hpp"

#include <algorithm>
#include <cstring>

#include "blake3_impl.hpp"
#include "llmward/worker_pool.hpp"

namespace llmward {
namespace {

using namespace blake3_impl;

void store_words(const std::uint32_t* words, std::size_t count, std::uint8_t* out) {
  for (std::size_t i = 0; i < count; ++i) {
    out[4 * i] = static_cast<std::uint8_t>(words[i]);
    out[4 * i + 1] = static_cast<std::uint8_t>(words[i] >> 8);
    out[4 * i + 2] = static_cast<std::uint8_t>(words[i] >> 16);
    out[4 * i + 3] = static_cast<std::uint8_t>(words[i] >> 24);
  }
}

void load_words(const std::uint8_t* in, std::size_t count, std::uint32_t* words) {
  for (std::size_t i = 0; i < count; ++i) {
    words[i] = std::uint32_t(in[4 * i]) | (std::uint32_t(in[4 * i + 1]) << 8) |
               (std::uint32_t(in[4 * i + 2]) << 16) | (std::uint32_t(in[4 * i + 3]) << 24);
  }
}

void parent_cv(const std::uint8_t* left_and_right, const std::uint32_t key[8], std::uint8_t flags,
               std::uint8_t out[32]) {
  std::uint32_t full[16];
  compress(key, left_and_right, kBlockLen, 0, flags | kParent, full);
  store_words(full, 8, out);
}

// Chunks hashed together through the SIMD backend before parents are formed.
constexpr std::size_t kLeafChunks = 64;

void subtree_root(const std::uint8_t* input, std::size_t chunks, std::uint64_t counter,
                  const std::uint32_t key[8], std::uint8_t flags, unsigned threads,
                  std::uint8_t out[32]);

// The two children (left, right: 64 bytes) of the subtree over `chunks` (a
// power of two, at least 2) whole chunks starting at chunk `counter`. The
// subtree's own root is left to the caller: it may be the root of everything.
void subtree_children(const std::uint8_t* input, std::size_t chunks, std::uint64_t counter,
                      const std::uint32_t key[8], std::uint8_t flags, unsigned threads,
                      std::uint8_t out[64]) {
  if (chunks <= kLeafChunks) {
    const Backend& simd = backend();
    const std::uint8_t* inputs[kLeafChunks];
    std::uint8_t cvs[kLeafChunks * 32];
    std::uint8_t parents[kLeafChunks / 2 * 32];
    for (std::size_t i = 0; i < chunks; ++i) inputs[i] = input + i * kChunkLen;
    simd.hash_many(inputs, chunks, kBlocksPerChunk, key, counter, true, flags, kChunkStart,
                   kChunkEnd, cvs);
    for (std::size_t n = chunks; n > 2; n /= 2) {
      for (std::size_t i = 0; i < n / 2; ++i) inputs[i] = cvs + 64 * i;
      simd.hash_many(inputs, n / 2, 1, key, 0, false, flags | kParent, 0, 0, parents);
      std::memcpy(cvs, parents, n / 2 * 32);
    }
    std::memcpy(out, cvs, 64);
    return;
  }
  const std::size_t half = chunks / 2;
  const std::uint8_t* right = input + half * kChunkLen;
  if (threads > 1 && half * kChunkLen >= Blake3::kMinBytesPerThread) {
    run_pair([&] { subtree_root(input, half, counter, key, flags, threads / 2, out); },
             [&] {
               subtree_root(right, half, counter + half, key, flags, threads - threads / 2,
                            out + 32);
             });
    return;
  }
  subtree_root(input, half, counter, key, flags, 1, out);
  subtree_root(right, half, counter + half, key, flags, 1, out + 32);
}

// The chaining value of a subtree that is not the root of everything.
void subtree_root(const std::uint8_t* input, std::size_t chunks, std::uint64_t counter,
                  const std::uint32_t key[8], std::uint8_t flags, unsigned threads,
                  std::uint8_t out[32]) {
  std::uint8_t children[64];
  subtree_children(input, chunks, counter, key, flags, threads, children);
  parent_cv(children, key, flags, out);
}

}  // namespace

// The last compression of a node, kept so the root can be finalized with any
// output length.
struct Blake3::Output {
  std::uint32_t cv[8];
  std::uint8_t block[64];
  std::uint8_t block_len;
  std::uint64_t counter;
  std::uint8_t flags;

  void chaining_value(std::uint8_t out[32]) const {
    std::uint32_t full[16];
    compress(cv, block, block_len, counter, flags, full);
    store_words(full, 8, out);
  }

  void root_bytes(std::uint64_t seek, std::uint8_t* out, std::size_t length) const {
    std::uint64_t block_index = seek / 64;
    std::size_t skip = static_cast<std::size_t>(seek % 64);
    while (length > 0) {
      std::uint32_t full[16];
      std::uint8_t bytes[64];
      compress(cv, block, block_len, block_index, flags | kRoot, full);
      store_words(full, 16, bytes);
      const std::size_t take = std::min<std::size_t>(64 - skip, length);
      std::memcpy(out, bytes + skip, take);
      out += take;
      length -= take;
      skip = 0;
      ++block_index;
    }
  }
};

Blake3::Blake3(const std::uint32_t key[8], std::uint8_t flags) : flags_(flags) {
  std::memcpy(key_, key, sizeof key_);
  reset_chunk(0);
}

Blake3::Blake3() : Blake3(kIV, 0) {}

Blake3::Blake3(const std::uint8_t* key) : flags_(kKeyedHash) {
  load_words(key, 8, key_);
  reset_chunk(0);
}

Blake3 Blake3::derive_key(std::string_view context) {
  Blake3 context_hasher(kIV, kDeriveKeyContext);
  context_hasher.update(context.data(), context.size());
  std::uint8_t context_key[32];
  context_hasher.finalize(context_key, sizeof context_key);
  std::uint32_t words[8];
  load_words(context_key, 8, words);
  return Blake3(words, kDeriveKeyMaterial);
}

void Blake3::reset_chunk(std::uint64_t counter) {
  std::memcpy(chunk_cv_, key_, sizeof chunk_cv_);
  chunk_counter_ = counter;
  block_len_ = 0;
  blocks_done_ = 0;
}

void Blake3::chunk_update(const std::uint8_t* data, std::size_t size) {
  std::uint32_t full[16];
  while (size > 0) {
    if (block_len_ == kBlockLen) {  // a full block, and more input: it is not the last
      compress(chunk_cv_, block_, kBlockLen, chunk_counter_,
               flags_ | (blocks_done_ == 0 ? kChunkStart : 0), full);
      std::memcpy(chunk_cv_, full, sizeof chunk_cv_);
      ++blocks_done_;
      block_len_ = 0;
    }
    while (block_len_ == 0 && size > kBlockLen) {  // whole blocks straight from the input
      compress(chunk_cv_, data, kBlockLen, chunk_counter_,
               flags_ | (blocks_done_ == 0 ? kChunkStart : 0), full);
      std::memcpy(chunk_cv_, full, sizeof chunk_cv_);
      ++blocks_done_;
      data += kBlockLen;
      size -= kBlockLen;
    }
    const std::size_t take = std::min<std::size_t>(kBlockLen - block_len_, size);
    std::memcpy(block_ + block_len_, data, take);
    block_len_ = static_cast<std::uint8_t>(block_len_ + take);
    data += take;
    size -= take;
  }
}

Blake3::Output Blake3::chunk_output() const {
  Output out{};
  std::memcpy(out.cv, chunk_cv_, sizeof out.cv);
  std::memcpy(out.block, block_, block_len_);
  std::memset(out.block + block_len_, 0, sizeof out.block - block_len_);
  out.block_len = block_len_;
  out.counter = chunk_counter_;
  out.flags = static_cast<std::uint8_t>(flags_ | (blocks_done_ == 0 ? kChunkStart : 0) | kChunkEnd);
  return out;
}

// The stack holds one chaining value per 1 bit of the number of chunks
// before it (subtrees are complete binary trees of aligned chunks).
void Blake3::merge_stack(std::uint64_t total_chunks) {
  const auto target = static_cast<std::size_t>(__builtin_popcountll(total_chunks));
  while (stack_len_ > target) {
    parent_cv(stack_ + (stack_len_ - 2) * 32, key_, flags_, stack_ + (stack_len_ - 2) * 32);
    --stack_len_;
  }
}

void Blake3::push_cv(const std::uint8_t cv[32], std::uint64_t chunk_counter) {
  merge_stack(chunk_counter);
  std::memcpy(stack_ + stack_len_ * 32, cv, 32);
  ++stack_len_;
}

void Blake3::update(const void* data, std::size_t size) {
  const auto* in = static_cast<const std::uint8_t*>(data);
  if (chunk_bytes() > 0) {
    const std::size_t take = std::min(kChunkLen - chunk_bytes(), size);
    chunk_update(in, take);
    in += take;
    size -= take;
    if (size == 0) return;
    std::uint8_t cv[32];
    chunk_output().chaining_value(cv);  // the chunk is full and more input follows
    push_cv(cv, chunk_counter_);
    reset_chunk(chunk_counter_ + 1);
  }
  // Whole aligned subtrees while more than a chunk remains. A subtree's two
  // children go on the stack unmerged, since it may be all the input there
  // is and its root then needs the ROOT flag.
  while (size > kChunkLen) {
    std::uint64_t chunks = std::uint64_t{1} << (63 - __builtin_clzll(size / kChunkLen));
    while ((chunk_counter_ & (chunks - 1)) != 0) chunks /= 2;  // aligned to its size
    if (chunks == 1) {  // more input follows: this chunk is not the root
      std::uint8_t cv[32];
      chunk_update(in, kChunkLen);
      chunk_output().chaining_value(cv);
      push_cv(cv, chunk_counter_);
    } else {
      std::uint8_t children[64];
      subtree_children(in, static_cast<std::size_t>(chunks), chunk_counter_, key_, flags_,
                       threads_, children);
      push_cv(children, chunk_counter_);
      push_cv(children + 32, chunk_counter_ + chunks / 2);
    }
    reset_chunk(chunk_counter_ + chunks);
    in += chunks * kChunkLen;
    size -= static_cast<std::size_t>(chunks * kChunkLen);
  }
  if (size > 0) {
    chunk_update(in, size);
    merge_stack(chunk_counter_);  // what follows is known: these merges are not the root
  }
}

void Blake3::finalize(std::uint8_t* out, std::size_t length, std::uint64_t seek) const {
  auto parent_of = [&](const std::uint8_t* left, const std::uint8_t* right) {
    Output node{};
    std::memcpy(node.cv, key_, sizeof node.cv);
    std::memcpy(node.block, left, 32);
    std::memcpy(node.block + 32, right, 32);
    node.block_len = kBlockLen;
    node.counter = 0;
    node.flags = static_cast<std::uint8_t>(flags_ | kParent);
    return node;
  };
  Output node;
  std::size_t remaining = stack_len_;
  if (stack_len_ == 0 || chunk_bytes() > 0) {
    node = chunk_output();
  } else {  // input ended on a subtree: its two children are the top of the stack
    remaining -= 2;
    node = parent_of(stack_ + remaining * 32, stack_ + (remaining + 1) * 32);
  }
  while (remaining-- > 0) {
    std::uint8_t right[32];
    node.chaining_value(right);
    node = parent_of(stack_ + remaining * 32, right);
  }
  node.root_bytes(seek, out, length);
}

std::array<std::uint8_t, Blake3::kOutLen> Blake3::digest() const {
  std::array<std::uint8_t, kOutLen> out{};
  finalize(out.data(), out.size());
  return out;
}

const char* Blake3::simd() { return backend().name; }

std::vector<std::string> Blake3::supported_simd() {
  std::size_t count = 0;
  const Backend* all = supported_backends(count);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i) names.emplace_back(all[i].name);
  return names;
}

bool Blake3::select_simd(const std::string& name) { return select_backend(name.c_str()); }

}  // namespace llmward
