// The Python-facing Scanner and Match: shared by bind_scanner.cpp (scan,
// scan_batch, streams) and bind_views.cpp (scan_views, scan_views_batch).
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "llmward/scanner.hpp"
#include "text_ref.hpp"

namespace llmward::bindings {

struct PyMatch {
  pybind11::object rule;
  pybind11::object category;
  pybind11::ssize_t start;
  pybind11::ssize_t end;
  pybind11::object view;  // "raw", "folded" or "decoded"
};

// Compiled scanner plus the rule ids, categories and view names as ready
// Python strings, shared by every Match it returns.
class ScannerHandle {
 public:
  ScannerHandle(std::vector<Rule> rules, const std::string& cache_directory);

  const std::shared_ptr<const Scanner>& core() const { return core_; }

  // Matches with code-point (str) or byte (bytes) offsets to Match objects.
  pybind11::list to_python(const std::vector<RawMatch>& matches) const;

  // Borrows every item of a sequence of str/bytes (GIL held); `owners` keep
  // the items alive while the GIL is released, whatever happens to the
  // sequence meanwhile. `str_only` refuses bytes.
  struct BorrowedTexts {
    std::vector<pybind11::object> owners;
    std::vector<TextRef> refs;
  };
  static BorrowedTexts borrow_all(pybind11::handle texts, const char* method,
                                  bool str_only = false);

  // The Scanner objects of a sequence, for calls that scan with several.
  struct BorrowedScanners {
    std::vector<const ScannerHandle*> handles;
    std::vector<const Scanner*> cores;
  };
  static BorrowedScanners borrow_scanners(pybind11::handle scanners);

 private:
  std::shared_ptr<const Scanner> core_;
  std::vector<pybind11::object> ids_;
  std::vector<pybind11::object> categories_;
  std::array<pybind11::object, 3> view_names_;
};

}  // namespace llmward::bindings
