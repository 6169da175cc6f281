// Text derived from an original, with, for every byte, the range of original
// bytes it came from. The normalized views are built from these.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

namespace llmward::views {

// Half-open range of original byte offsets.
struct Span {
  std::uint32_t begin;
  std::uint32_t end;
};

// A growable array of trivially copyable values that, unlike std::vector,
// grows without zero-filling: maps are written once per byte of text, and
// clearing them first would cost as much again.
template <typename T>
class PodBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  PodBuffer() = default;
  PodBuffer(PodBuffer&&) noexcept = default;
  PodBuffer& operator=(PodBuffer&&) noexcept = default;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  const T& back() const noexcept { return data_[size_ - 1]; }

  void clear() noexcept { size_ = 0; }
  void reserve(std::size_t capacity) {
    if (capacity <= capacity_) return;
    std::unique_ptr<T[]> grown(new T[capacity]);  // default-initialized: not zeroed
    if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_ * sizeof(T));
    data_ = std::move(grown);
    capacity_ = capacity;
  }
  // Sets the size; new elements are left uninitialized for the caller to write.
  void resize_uninitialized(std::size_t size) {
    reserve(size);
    size_ = size;
  }
  void push_back(const T& value) {
    if (size_ == capacity_) reserve(capacity_ * 2 + 16);
    data_[size_++] = value;
  }

 private:
  std::unique_ptr<T[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// `map[i]` is the source range of byte i of `text`. Every byte of one
// character maps to the same range, ranges are monotonic (begins and ends
// never decrease along the text) and lie on character boundaries of the
// source. An empty map with a non-empty text means "byte i came from byte i"
// (the text has the source's length, only single bytes were substituted).
struct MappedText {
  std::string text;
  PodBuffer<Span> map;

  Span source(std::size_t i) const noexcept {
    return map.empty() ? Span{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + 1)}
                       : map[i];
  }
  // Source range of the text bytes [start, end), end > start.
  Span source(std::size_t start, std::size_t end) const noexcept {
    return {source(start).begin, source(end - 1).end};
  }
};

}  // namespace llmward::views
