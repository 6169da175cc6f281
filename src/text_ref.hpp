// Borrowing a Python str or bytes as UTF-8 for the native scanner, without a
// copy whenever possible. Runs with the GIL held; the view stays valid while
// the Python object lives.
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

namespace llmward::bindings {

class TextRef {
 public:
  explicit TextRef(PyObject* text);  // throws pybind11::type_error
  TextRef(TextRef&&) = default;

  std::string_view utf8() const noexcept {
    return owned_active_ ? std::string_view(owned_) : borrowed_;
  }
  // True when Hyperscan's byte offsets must be turned into code points.
  bool needs_code_points() const noexcept { return code_points_; }
  // True when the text had to be re-encoded or repaired: a str with lone
  // surrogates (now U+FFFD), bytes with invalid UTF-8, or a copied bytearray.
  bool reencoded() const noexcept { return owned_active_; }

 private:
  std::string_view borrowed_;
  std::string owned_;
  bool owned_active_ = false;
  bool code_points_ = false;
};

// Calls shorter than this keep the GIL: releasing it costs more than the scan.
inline constexpr std::size_t kReleaseGilBytes = 1024;

// Runs `work` on `ref`'s text, without the GIL when the text is long enough.
template <typename Work>
auto run_on(const TextRef& ref, Work&& work) {
  if (ref.utf8().size() >= kReleaseGilBytes) {
    pybind11::gil_scoped_release release;
    return work(ref);
  }
  return work(ref);
}

}  // namespace llmward::bindings
